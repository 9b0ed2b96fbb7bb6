"""Chat adapters: each translates its platform to core commands and implements the Chat port."""
