"""The catalog model: people, teams (rotations, overrides, escalation) and services.

Both catalog formats (warroom's YAML and Backstage descriptors, read in bot/playbooks/) end up
as these models, so lint, paging and on-call answers are the same whichever a team keeps.
Lookups are by key (dicts built once), never a scan.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BeforeValidator, Field, PrivateAttr, field_validator, model_validator

from bot.core.playbook import Duration, Spec

if TYPE_CHECKING:
    from bot.core.ownership.resolve import Resolved

# Looser than a playbook name: Backstage allows upper case and dots (`Payments.API`).
CatalogName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$", max_length=128)]
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _clock_time(value: Any) -> Any:
    if isinstance(value, int) and 0 <= value < 24 * 60:  # YAML 1.1 readers: 09:00 -> 540
        return time(value // 60, value % 60)
    return value


ClockTime = Annotated[time, BeforeValidator(_clock_time)]


def _length(value: Any) -> Any:
    """A rotation length: `1w`, `2w`, `1d`, `3d` (or any duration playbooks accept)."""
    if isinstance(value, str) and value.strip().endswith("w") and value.strip()[:-1].isdigit():
        return timedelta(weeks=int(value.strip()[:-1]))
    return value


RotationLength = Annotated[Duration, BeforeValidator(_length)]


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("give a time zone, e.g. 2027-03-29T07:30:00Z or +02:00")
    return value


class Person(Spec):
    name: CatalogName
    display_name: str | None = None
    email: str | None = None
    slack: str | None = Field(None, description="Slack user id (U...), for DMs and invites")
    mattermost: str | None = Field(None, description="Mattermost username")
    teams: list[CatalogName] = Field(default_factory=list, description="Backstage memberOf")


class Restriction(Spec):
    """Only on call within these local hours (e.g. weekdays 09:00-18:00); `to` before `from`
    crosses midnight."""

    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = list(WEEKDAYS)  # type: ignore[assignment]
    start: ClockTime = Field(time(0), alias="from")
    end: ClockTime = Field(time(0), alias="to")


class Layer(Spec):
    """Members take turns in order; each turn starts at `start`'s local wall-clock time and
    lasts `length` (whole days, so hand-offs keep their local time across DST)."""

    name: str | None = None
    members: list[CatalogName] = Field(min_length=1)
    start: datetime = Field(description="first hand-off, local time in `timezone`")
    timezone: str = "UTC"
    length: RotationLength = Field(timedelta(weeks=1), description="1d, 1w or Nd")
    restrict: Restriction | None = None

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone '{value}' (use an IANA name such as Europe/Zagreb)"
            ) from None
        return value

    @field_validator("length")
    @classmethod
    def _days(cls, value: timedelta) -> timedelta:
        if value < timedelta(days=1) or value % timedelta(days=1):
            raise ValueError("a rotation length is whole days: 1d, 1w or Nd")
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class Override(Spec):
    who: CatalogName
    start: datetime = Field(alias="from")
    end: datetime = Field(alias="until")

    @field_validator("start", "end")
    @classmethod
    def _tz(cls, value: datetime) -> datetime:
        return _aware(value)

    @model_validator(mode="after")
    def _order(self) -> Override:
        if self.end <= self.start:
            raise ValueError("an override's `until` must be after its `from`")
        return self


class Target(Spec):
    """Who one escalation level pages: the team's on-call, a person, or another team."""

    oncall: bool = False
    person: CatalogName | None = None
    team: CatalogName | None = None

    @model_validator(mode="after")
    def _one(self) -> Target:
        if sum((self.oncall, self.person is not None, self.team is not None)) != 1:
            raise ValueError("name exactly one of oncall: true, person: NAME or team: NAME")
        return self

    def describe(self) -> str:
        return (
            "on-call" if self.oncall else f"@{self.person}" if self.person else f"team {self.team}"
        )


class Level(Spec):
    targets: list[Target] = Field(min_length=1)
    after: Duration = Field(timedelta(minutes=15), description="wait before the next level")


class EscalationPolicy(Spec):
    levels: list[Level] = Field(min_length=1)
    repeat: int = Field(0, ge=0, le=10, description="times to go round the levels again")


class Team(Spec):
    name: CatalogName
    display_name: str | None = None
    members: list[CatalogName] = Field(default_factory=list)
    oncall: list[CatalogName] = Field(
        default_factory=list, description="fixed on-call (first: primary)"
    )
    rotation: list[Layer] = Field(
        default=[], description="layers; a later one wins where it has someone"
    )
    overrides: list[Override] = []
    calendar: str | None = Field(None, description="iCalendar file; each event's SUMMARY is who")
    escalation: EscalationPolicy | list[CatalogName] | None = Field(
        None, description="a policy, or (short form) people paged after escalate_after"
    )
    escalate_after: Duration = timedelta(minutes=15)
    channel: str | None = None
    pagerduty: str | None = Field(None, description="PagerDuty Events API v2 routing key")

    def policy(self) -> EscalationPolicy:
        """The escalation policy; the short form `escalation: [alice]` is on-call, then alice."""
        first = Level(targets=[Target(oncall=True)], after=self.escalate_after)
        if isinstance(self.escalation, EscalationPolicy):
            return self.escalation
        people = self.escalation or []
        levels = [first]
        if people:
            levels.append(
                Level(targets=[Target(person=p) for p in people], after=self.escalate_after)
            )
        return EscalationPolicy(levels=levels)

    @property
    def has_oncall_setup(self) -> bool:
        return bool(self.oncall or self.rotation or self.overrides or self.calendar)


class Service(Spec):
    name: CatalogName
    owner: CatalogName
    kind: str = "service"
    system: str | None = None
    tier: int | None = Field(None, ge=0, le=4)
    runbook: str | None = None
    channel: str | None = None
    pagerduty: str | None = Field(None, description="PagerDuty Events API v2 routing key")
    dependencies: list[CatalogName] = Field(default_factory=list)


class Catalog(Spec):
    people: list[Person] = []
    teams: list[Team] = []
    services: list[Service] = []
    _teams: dict[str, Team] = PrivateAttr(default_factory=dict)
    _services: dict[str, Service] = PrivateAttr(default_factory=dict)
    _people: dict[str, Person] = PrivateAttr(default_factory=dict)
    _owned: dict[str, list[str]] = PrivateAttr(default_factory=dict)
    # Set by the loader: team name -> its calendar (a CalendarSource, bot/core/ownership/oncall.py).
    _calendars: dict[str, Any] = PrivateAttr(default_factory=dict)

    def model_post_init(self, context: object) -> None:
        owned: dict[str, list[str]] = {}
        for service in self.services:
            owned.setdefault(service.owner, []).append(service.name)
        self.__pydantic_private__.update(  # type: ignore[union-attr]
            _teams={t.name: t for t in self.teams},
            _services={s.name: s for s in self.services},
            _people={p.name: p for p in self.people},
            _owned=owned,
        )

    # Lookups read the private indexes straight from __pydantic_private__: pydantic's own
    # attribute path for private attributes costs several microseconds per access.

    def team(self, name: str) -> Team | None:
        return self.__pydantic_private__["_teams"].get(name)  # type: ignore[index]

    def service(self, name: str | None) -> Service | None:
        return self.__pydantic_private__["_services"].get(name) if name else None  # type: ignore[index]

    def person(self, name: str) -> Person | None:
        return self.__pydantic_private__["_people"].get(name)  # type: ignore[index]

    def owner_of(self, service: str | None) -> Team | None:
        private = self.__pydantic_private__
        found = private["_services"].get(service) if service else None  # type: ignore[index]
        return private["_teams"].get(found.owner) if found else None  # type: ignore[index]

    def services_of(self, team: str) -> list[str]:
        return self.__pydantic_private__["_owned"].get(team, [])  # type: ignore[index]

    def calendar_of(self, team: str) -> Any:
        return self.__pydantic_private__["_calendars"].get(team)  # type: ignore[index]

    def set_calendar(self, team: str, calendar: Any) -> None:
        self.__pydantic_private__["_calendars"][team] = calendar  # type: ignore[index]

    def handle(self, person: str, platform: str) -> str:
        """How `person` is named on a platform (a Slack user id, a Mattermost username)."""
        found = self.person(person)
        if found is not None:
            if platform == "slack" and found.slack:
                return found.slack
            if platform == "mattermost" and found.mattermost:
                return found.mattermost
        return person

    def names(self) -> list[str]:
        return [*self._teams, *self._services]

    def resolve(self, target: str, at: datetime | None = None) -> Resolved | None:
        """A team or service name -> its team and the people to bring in (on-call at `at`)."""
        from bot.core.ownership.resolve import resolve

        return resolve(self, target, at)

    def suggestion(self, target: str) -> str:
        from bot.core.messages import did_you_mean

        return did_you_mean(target.lstrip("@#"), self.names())
