# ruff: noqa
# fmt: off
"""The default postmortem template, compiled by Jinja2: generated, do not edit. Made by
bot/core/postmortem/render.py default_module_source(); regenerate with
WARROOM_REGENERATE_GOLDEN=1 pytest tests/core/test_postmortem_compiled.py."""
from bot.core.postmortem.render import TRUSTED as environment

FINGERPRINT = "00d4ce2f15e6113edb9cd12d0630593b6c4c5d6cc426a4c14659dfa6e1332021"

from jinja2.runtime import LoopContext, Macro, Markup, Namespace, TemplateNotFound, TemplateReference, TemplateRuntimeError, Undefined, escape, identity, internalcode, markup_join, missing, str_join
name = None

def root(context, missing=missing, environment=environment):
    resolve = context.resolve_or_missing
    undefined = environment.undefined
    concat = environment.concat
    cond_expr_undefined = Undefined
    if 0: yield None
    l_0_ref = resolve('ref')
    l_0_title = resolve('title')
    l_0_severity = resolve('severity')
    l_0_severity_label = resolve('severity_label')
    l_0_service = resolve('service')
    l_0_declared_by = resolve('declared_by')
    l_0_key_times = resolve('key_times')
    l_0_is_open = resolve('is_open')
    l_0_state = resolve('state')
    l_0_duration = resolve('duration')
    l_0_description = resolve('description')
    l_0_resolution = resolve('resolution')
    l_0_peak_severity = resolve('peak_severity')
    l_0_peak_severity_label = resolve('peak_severity_label')
    l_0_commander = resolve('commander')
    l_0_playbook = resolve('playbook')
    l_0_channel = resolve('channel')
    l_0_platform = resolve('platform')
    l_0_time_at_severity = resolve('time_at_severity')
    l_0_severity_history = resolve('severity_history')
    l_0_tta = resolve('tta')
    l_0_ttm = resolve('ttm')
    l_0_ttr = resolve('ttr')
    l_0_state_chart = resolve('state_chart')
    l_0_alerts = resolve('alerts')
    l_0_first_alert_at = resolve('first_alert_at')
    l_0_ttd = resolve('ttd')
    l_0_roles = resolve('roles')
    l_0_participants = resolve('participants')
    l_0_checklist = resolve('checklist')
    l_0_status_updates = resolve('status_updates')
    l_0_highlights = resolve('highlights')
    l_0_timeline = resolve('timeline')
    l_0_followups = resolve('followups')
    l_0_exported_at = resolve('exported_at')
    try:
        t_1 = environment.filters['cell']
    except KeyError:
        @internalcode
        def t_1(*unused):
            raise TemplateRuntimeError("No filter named 'cell' found.")
    try:
        t_2 = environment.filters['inline']
    except KeyError:
        @internalcode
        def t_2(*unused):
            raise TemplateRuntimeError("No filter named 'inline' found.")
    try:
        t_3 = environment.filters['quote']
    except KeyError:
        @internalcode
        def t_3(*unused):
            raise TemplateRuntimeError("No filter named 'quote' found.")
    pass
    yield '# '
    yield str(environment.finalize((undefined(name='ref') if l_0_ref is missing else l_0_ref)))
    yield ': '
    yield str(environment.finalize(t_2((undefined(name='title') if l_0_title is missing else l_0_title))))
    yield '\n\n## Summary\n\n'
    yield str(environment.finalize((undefined(name='ref') if l_0_ref is missing else l_0_ref)))
    yield ' ('
    yield str(environment.finalize((undefined(name='severity') if l_0_severity is missing else l_0_severity)))
    yield ', '
    yield str(environment.finalize((undefined(name='severity_label') if l_0_severity_label is missing else l_0_severity_label)))
    yield ')'
    if (undefined(name='service') if l_0_service is missing else l_0_service):
        pass
        yield ' on '
        yield str(environment.finalize(t_2((undefined(name='service') if l_0_service is missing else l_0_service))))
    yield ' was declared by @'
    yield str(environment.finalize(t_2((undefined(name='declared_by') if l_0_declared_by is missing else l_0_declared_by))))
    yield ' at '
    yield str(environment.finalize(environment.getattr(environment.getitem((undefined(name='key_times') if l_0_key_times is missing else l_0_key_times), 0), 'at')))
    yield ' UTC and '
    if (undefined(name='is_open') if l_0_is_open is missing else l_0_is_open):
        pass
        yield 'was still '
        yield str(environment.finalize((undefined(name='state') if l_0_state is missing else l_0_state)))
        yield ' at export, '
        yield str(environment.finalize((undefined(name='duration') if l_0_duration is missing else l_0_duration)))
        yield ' later.'
    else:
        pass
        yield 'was resolved after '
        yield str(environment.finalize((undefined(name='duration') if l_0_duration is missing else l_0_duration)))
        yield '.'
    yield '\n\n'
    if (undefined(name='description') if l_0_description is missing else l_0_description):
        pass
        yield str(environment.finalize((undefined(name='description') if l_0_description is missing else l_0_description)))
        yield '\n\n'
    if (undefined(name='resolution') if l_0_resolution is missing else l_0_resolution):
        pass
        yield '**Resolution:** '
        yield str(environment.finalize(t_2((undefined(name='resolution') if l_0_resolution is missing else l_0_resolution))))
        yield '\n\n'
    yield '| | |\n| --- | --- |\n| Severity | '
    yield str(environment.finalize((undefined(name='severity') if l_0_severity is missing else l_0_severity)))
    yield ' ('
    yield str(environment.finalize((undefined(name='severity_label') if l_0_severity_label is missing else l_0_severity_label)))
    yield ')'
    if ((undefined(name='peak_severity') if l_0_peak_severity is missing else l_0_peak_severity) != (undefined(name='severity') if l_0_severity is missing else l_0_severity)):
        pass
        yield ', at worst '
        yield str(environment.finalize((undefined(name='peak_severity') if l_0_peak_severity is missing else l_0_peak_severity)))
        yield ' ('
        yield str(environment.finalize((undefined(name='peak_severity_label') if l_0_peak_severity_label is missing else l_0_peak_severity_label)))
        yield ')'
    yield ' |\n| State | '
    yield str(environment.finalize((undefined(name='state') if l_0_state is missing else l_0_state)))
    yield ' |\n| Service | '
    yield str(environment.finalize(t_1(((undefined(name='service') if l_0_service is missing else l_0_service) or '-'))))
    yield ' |\n| Declared by | @'
    yield str(environment.finalize(t_1((undefined(name='declared_by') if l_0_declared_by is missing else l_0_declared_by))))
    yield ' |\n| Commander | '
    if (undefined(name='commander') if l_0_commander is missing else l_0_commander):
        pass
        yield '@'
        yield str(environment.finalize(t_1((undefined(name='commander') if l_0_commander is missing else l_0_commander))))
    else:
        pass
        yield '-'
    yield ' |\n| Playbook | '
    if (undefined(name='playbook') if l_0_playbook is missing else l_0_playbook):
        pass
        yield str(environment.finalize(t_1(environment.getattr((undefined(name='playbook') if l_0_playbook is missing else l_0_playbook), 'name'))))
        if environment.getattr((undefined(name='playbook') if l_0_playbook is missing else l_0_playbook), 'version'):
            pass
            yield ' (version `'
            yield str(environment.finalize(environment.getattr((undefined(name='playbook') if l_0_playbook is missing else l_0_playbook), 'version')))
            yield '`)'
    else:
        pass
        yield 'none'
    yield ' |\n| Channel | '
    if (undefined(name='channel') if l_0_channel is missing else l_0_channel):
        pass
        yield '#'
        yield str(environment.finalize(t_1((undefined(name='channel') if l_0_channel is missing else l_0_channel))))
        yield ' ('
        yield str(environment.finalize((undefined(name='platform') if l_0_platform is missing else l_0_platform)))
        yield ')'
    else:
        pass
        yield '-'
    yield ' |\n\n## Impact\n\n- Service: '
    yield str(environment.finalize(t_2(((undefined(name='service') if l_0_service is missing else l_0_service) or 'not recorded'))))
    yield '\n- Duration: '
    yield str(environment.finalize((undefined(name='duration') if l_0_duration is missing else l_0_duration)))
    if (undefined(name='is_open') if l_0_is_open is missing else l_0_is_open):
        pass
        yield ' so far (still open)'
    yield '\n- Time at each severity: '
    l_1_loop = missing
    for (l_1_sev, l_1_spent), l_1_loop in LoopContext((undefined(name='time_at_severity') if l_0_time_at_severity is missing else l_0_time_at_severity), undefined):
        _loop_vars = {}
        pass
        yield str(environment.finalize(l_1_sev))
        yield ' '
        yield str(environment.finalize(l_1_spent))
        yield str(environment.finalize((', ' if (not environment.getattr(l_1_loop, 'last')) else cond_expr_undefined("the inline if-expression on line 31 evaluated to false and no else section was defined."))))
    l_1_loop = l_1_sev = l_1_spent = missing
    yield '\n\n_Who was affected, how, and how many (customers, requests, money)? To be written._\n\n## Severity history\n\n| Time (UTC) | T+ | Severity | Changed by |\n| --- | --- | --- | --- |\n'
    for l_1_change in (undefined(name='severity_history') if l_0_severity_history is missing else l_0_severity_history):
        _loop_vars = {}
        pass
        yield '| '
        yield str(environment.finalize(environment.getattr(l_1_change, 'at')))
        yield ' | '
        yield str(environment.finalize(environment.getattr(l_1_change, 'offset')))
        yield ' | '
        yield str(environment.finalize(environment.getattr(l_1_change, 'value')))
        yield ' ('
        yield str(environment.finalize(environment.getattr(l_1_change, 'label')))
        yield ') | @'
        yield str(environment.finalize(t_1(environment.getattr(l_1_change, 'by'))))
        yield ' |\n'
    l_1_change = missing
    yield '\n## Key times\n\n| Moment | Time (UTC) | Since declared |\n| --- | --- | --- |\n'
    for l_1_moment in (undefined(name='key_times') if l_0_key_times is missing else l_0_key_times):
        _loop_vars = {}
        pass
        yield '| '
        yield str(environment.finalize(environment.getattr(l_1_moment, 'label')))
        yield ' | '
        yield str(environment.finalize((environment.getattr(l_1_moment, 'at') or '-')))
        yield ' | '
        yield str(environment.finalize((environment.getattr(l_1_moment, 'offset') or '-')))
        yield ' |\n'
    l_1_moment = missing
    yield '\n- Time to acknowledge: '
    yield str(environment.finalize(((undefined(name='tta') if l_0_tta is missing else l_0_tta) or 'not acknowledged')))
    yield '\n- Time to mitigate: '
    yield str(environment.finalize(((undefined(name='ttm') if l_0_ttm is missing else l_0_ttm) or 'not mitigated')))
    yield '\n- Time to resolve: '
    yield str(environment.finalize(((undefined(name='ttr') if l_0_ttr is missing else l_0_ttr) or str_join(('still open at export (', (undefined(name='duration') if l_0_duration is missing else l_0_duration), ' so far)', )))))
    yield '\n\n```mermaid\n'
    yield str(environment.finalize((undefined(name='state_chart') if l_0_state_chart is missing else l_0_state_chart)))
    yield '\n```\n\n'
    if (undefined(name='alerts') if l_0_alerts is missing else l_0_alerts):
        pass
        yield '## Alerts\n\nFirst alert at '
        yield str(environment.finalize((undefined(name='first_alert_at') if l_0_first_alert_at is missing else l_0_first_alert_at)))
        yield '; time to detect (first alert to declaration): '
        yield str(environment.finalize((undefined(name='ttd') if l_0_ttd is missing else l_0_ttd)))
        yield '.\n\n| Time (UTC) | T+ | Alert | Status | Summary |\n| --- | --- | --- | --- | --- |\n'
        for l_1_alert in (undefined(name='alerts') if l_0_alerts is missing else l_0_alerts):
            _loop_vars = {}
            pass
            yield '| '
            yield str(environment.finalize(environment.getattr(l_1_alert, 'at')))
            yield ' | '
            yield str(environment.finalize(environment.getattr(l_1_alert, 'offset')))
            yield ' | '
            yield str(environment.finalize(t_1(environment.getattr(l_1_alert, 'alertname'))))
            yield ' | '
            yield str(environment.finalize(environment.getattr(l_1_alert, 'status')))
            yield ' | '
            yield str(environment.finalize(t_1(environment.getattr(l_1_alert, 'summary'))))
            yield ' |\n'
        l_1_alert = missing
        yield '\n'
    yield '## Roles and participants\n\n'
    if (undefined(name='roles') if l_0_roles is missing else l_0_roles):
        pass
        yield '| Role | Who |\n| --- | --- |\n'
        for l_1_role in (undefined(name='roles') if l_0_roles is missing else l_0_roles):
            _loop_vars = {}
            pass
            yield '| '
            yield str(environment.finalize(t_1(environment.getattr(l_1_role, 'role'))))
            yield ' | '
            if environment.getattr(l_1_role, 'user'):
                pass
                yield '@'
                yield str(environment.finalize(t_1(environment.getattr(l_1_role, 'user'))))
            else:
                pass
                yield 'nobody'
            yield ' |\n'
        l_1_role = missing
        yield '\n'
    if (undefined(name='participants') if l_0_participants is missing else l_0_participants):
        pass
        yield 'Participants: '
        l_1_loop = missing
        for l_1_p, l_1_loop in LoopContext((undefined(name='participants') if l_0_participants is missing else l_0_participants), undefined):
            _loop_vars = {}
            pass
            yield '@'
            yield str(environment.finalize(t_2(environment.getattr(l_1_p, 'user'))))
            yield str(environment.finalize((', ' if (not environment.getattr(l_1_loop, 'last')) else cond_expr_undefined("the inline if-expression on line 83 evaluated to false and no else section was defined."))))
        l_1_loop = l_1_p = missing
        yield '\n\n'
    yield '## Checklist\n\n'
    if (undefined(name='playbook') if l_0_playbook is missing else l_0_playbook):
        pass
        yield 'Playbook: '
        yield str(environment.finalize(t_2(environment.getattr((undefined(name='playbook') if l_0_playbook is missing else l_0_playbook), 'name'))))
        if environment.getattr((undefined(name='playbook') if l_0_playbook is missing else l_0_playbook), 'version'):
            pass
            yield ' (version `'
            yield str(environment.finalize(environment.getattr((undefined(name='playbook') if l_0_playbook is missing else l_0_playbook), 'version')))
            yield '`)'
        yield '\n\n'
    if environment.getattr((undefined(name='checklist') if l_0_checklist is missing else l_0_checklist), 'total'):
        pass
        yield str(environment.finalize(environment.getattr((undefined(name='checklist') if l_0_checklist is missing else l_0_checklist), 'done')))
        yield ' of '
        yield str(environment.finalize(environment.getattr((undefined(name='checklist') if l_0_checklist is missing else l_0_checklist), 'total')))
        yield ' tasks done, '
        yield str(environment.finalize(environment.getattr((undefined(name='checklist') if l_0_checklist is missing else l_0_checklist), 'skipped')))
        yield ' skipped, '
        yield str(environment.finalize(environment.getattr((undefined(name='checklist') if l_0_checklist is missing else l_0_checklist), 'open')))
        yield ' left open.\n\n'
        for l_1_task in environment.getattr((undefined(name='checklist') if l_0_checklist is missing else l_0_checklist), 'tasks'):
            _loop_vars = {}
            pass
            if (environment.getattr(l_1_task, 'state') == 'done'):
                pass
                yield '- [x] '
                yield str(environment.finalize(t_2(environment.getattr(l_1_task, 'title'))))
            elif (environment.getattr(l_1_task, 'state') == 'skipped'):
                pass
                yield '- [ ] ~~'
                yield str(environment.finalize(t_2(environment.getattr(l_1_task, 'title'))))
                yield '~~ (skipped)'
            else:
                pass
                yield '- [ ] '
                yield str(environment.finalize(t_2(environment.getattr(l_1_task, 'title'))))
            if environment.getattr(l_1_task, 'assignee'):
                pass
                yield ' (@'
                yield str(environment.finalize(t_2(environment.getattr(l_1_task, 'assignee'))))
                yield ')'
            yield '\n'
        l_1_task = missing
    else:
        pass
        yield 'No checklist tasks.\n'
    yield '\n## Status updates\n\n'
    t_4 = 1
    for l_1_update in (undefined(name='status_updates') if l_0_status_updates is missing else l_0_status_updates):
        _loop_vars = {}
        pass
        yield '**'
        yield str(environment.finalize(environment.getattr(l_1_update, 'at')))
        yield '** ('
        yield str(environment.finalize(environment.getattr(l_1_update, 'offset')))
        yield ', '
        yield str(environment.finalize(environment.getattr(l_1_update, 'severity')))
        yield ', '
        yield str(environment.finalize(environment.getattr(l_1_update, 'state')))
        yield '), @'
        yield str(environment.finalize(t_2(environment.getattr(l_1_update, 'author'))))
        yield ':\n\n'
        yield str(environment.finalize(t_3(environment.getattr(l_1_update, 'text'))))
        yield '\n\n'
        t_4 = 0
    l_1_update = missing
    if t_4:
        pass
        yield 'None were posted.\n\n'
    yield '## Highlights\n\n'
    t_5 = 1
    for l_1_moment in (undefined(name='highlights') if l_0_highlights is missing else l_0_highlights):
        _loop_vars = {}
        pass
        yield '- **'
        yield str(environment.finalize(environment.getattr(l_1_moment, 'at')))
        yield '** ('
        yield str(environment.finalize(environment.getattr(l_1_moment, 'offset')))
        yield ') @'
        yield str(environment.finalize(t_2(environment.getattr(l_1_moment, 'actor'))))
        yield ': '
        yield str(environment.finalize(t_2(environment.getattr(l_1_moment, 'text'))))
        yield '\n'
        t_5 = 0
    l_1_moment = missing
    if t_5:
        pass
        yield 'No messages were highlighted.\n'
    yield '\n## Timeline\n\n| Time (UTC) | T+ | Event | Who | What |\n| --- | --- | --- | --- | --- |\n'
    for l_1_event in (undefined(name='timeline') if l_0_timeline is missing else l_0_timeline):
        _loop_vars = {}
        pass
        yield '| '
        yield str(environment.finalize(environment.getattr(l_1_event, 'at')))
        yield ' | '
        yield str(environment.finalize(environment.getattr(l_1_event, 'offset')))
        yield ' | '
        yield str(environment.finalize(environment.getattr(l_1_event, 'event')))
        yield ' | @'
        yield str(environment.finalize(t_1(environment.getattr(l_1_event, 'actor'))))
        yield ' | '
        if environment.getattr(l_1_event, 'highlight'):
            pass
            yield ':pushpin: '
        yield str(environment.finalize(t_1(environment.getattr(l_1_event, 'text'))))
        if environment.getattr(l_1_event, 'edited'):
            pass
            yield ' _(edited)_'
        yield ' |\n'
    l_1_event = missing
    yield '\n## Follow-up actions\n\n'
    t_6 = 1
    for l_1_item in (undefined(name='followups') if l_0_followups is missing else l_0_followups):
        _loop_vars = {}
        pass
        yield '- [ ] '
        yield str(environment.finalize(t_2(environment.getattr(l_1_item, 'text'))))
        yield ' (@'
        yield str(environment.finalize(t_2(environment.getattr(l_1_item, 'by'))))
        yield ', '
        yield str(environment.finalize(environment.getattr(l_1_item, 'at')))
        yield ')\n'
        t_6 = 0
    l_1_item = missing
    if t_6:
        pass
        yield '- [ ] _None recorded yet: add them with /incident followup TEXT._\n'
    yield '\n## Root cause\n\n_To be written._\n\n## What went well\n\n_To be written._\n\n## What went badly\n\n_To be written._\n\n---\n_Exported by warroom on '
    yield str(environment.finalize((undefined(name='exported_at') if l_0_exported_at is missing else l_0_exported_at)))
    yield '._\n'

blocks = {}
debug_info = '1=65&5=69&8=97&9=99&12=101&13=104&18=107&19=119&20=121&21=123&22=125&23=133&24=145&28=156&29=158&31=164&40=173&41=177&48=189&49=193&52=201&53=203&54=205&57=207&60=209&63=212&67=216&68=220&74=233&77=236&78=240&82=252&83=256&89=265&90=268&94=275&95=277&97=285&98=288&99=291&100=295&101=300&102=301&111=313&112=317&114=327&122=336&123=340&132=354&133=358&138=377&139=381&157=393'
