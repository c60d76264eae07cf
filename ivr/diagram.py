"""The menu tree as a Mermaid flowchart (Markdown), for staff to read or paste.

GitHub, GitLab and https://mermaid.live draw it. Labels are the English words; the Spanish
menus use the same keys. The topic keys, 0, *, 6, 7 and 8 work in every menu after the language
choice; 9 is never a choice.
"""
from __future__ import annotations

from .script import (BACK_KEY, CLINIC, CLINIC_KEY, EMERGENCY_KEY, LANGUAGE_MENU, SLOWER, SWITCH_KEY, VOICEMAIL,
                     VOICEMAIL_KEY, Menus, Script)

START_MARK, END_MARK = "<!-- menu diagram: start -->", "<!-- menu diagram: end -->"
MENU_TITLES = {"topics": "Topic menu<br/>While the clinic is closed, 0 says when it opens, and offers a message",
               "after_summary": "After each summary",
               "clinic_unavailable": "The clinic does not answer",
               "clinic_closed": "The clinic is closed<br/>It says when it opens next (clinic.yaml)"}


def _label(text: str) -> str:
    return '"' + text.replace('"', "#quot;") + '"'


def _node(script: Script, target: str) -> str:
    if target in script.summaries:
        return f"summary_{target}"
    return {LANGUAGE_MENU: "language", CLINIC: "clinic", VOICEMAIL: "voicemail",
            SLOWER: "slower"}.get(target, f"menu_{target}")


def mermaid(script: Script) -> str:
    """The flowchart, as a Markdown ```mermaid block."""
    lines = [
        "flowchart TD",
        f"    call([{_label('A call comes in')}]) --> language{{{{{_label('Language menu: the clinic, each language, 911')}}}}}",
        f"    call -->|{_label('a returning caller')}| returning[{_label('Greeting, about and notice in their language')}]",
        "    returning --> menu_topics",
        f"    welcome[{_label('About and notice in that language, once a call')}] --> menu_topics",
    ]
    for key, option in script.language_menu.items():
        lines.append(f"    language -->|{_label(f'{key} · {option.say}')}| welcome")
    lines.append(f"    language -->|{_label('0 · the clinic')}| clinic")
    lines.append(f"    menu_topics -->|{_label(f'{SWITCH_KEY} · the other language, from every menu')}| welcome")
    lines.append(f"    menu_topics -->|{_label(f'{VOICEMAIL_KEY} · a message, from every menu')}| voicemail")
    lines.append(f"    language & menu_topics -->|{_label(f'{EMERGENCY_KEY} · never a choice, in every menu')}| "
                 f"emergency([{_label(script.opening.emergency.en + ' Then the same menu.')}])")
    for menu_id in Menus.model_fields:
        menu = script.menu(menu_id)
        title = MENU_TITLES[menu_id] + (f"<br/>{menu.intro.en}" if menu.intro else "")
        lines.append(f"    menu_{menu_id}{{{{{_label(title)}}}}}")
        for key, option in menu.options.items():
            lines.append(f"    menu_{menu_id} -->|{_label(f'{key} · {option.say.en}')}| {_node(script, option.goes_to)}")
        if BACK_KEY not in menu.options:
            lines.append(f"    menu_{menu_id} -->|{_label('* · back')}| {_node(script, menu.back_to)}")
        if menu_id == "clinic_closed":
            lines.append(f"    menu_{menu_id} -->|{_label('0 · when it opens, again; the third time, goodbye')}| menu_{menu_id}")
        elif CLINIC_KEY not in menu.options:
            lines.append(f"    menu_{menu_id} -->|{_label('0 · the clinic')}| clinic")
    for topic in script.summaries:
        lines.append(f"    summary_{topic}[/{_label(f'Summary: {topic}')}/] --> menu_after_summary")
    lines += [
        f"    slower([{_label('The same summary again, more slowly')}])",
        f"    clinic[[{_label('Transfer to the clinic')}]] -->|{_label('answered')}| done([{_label('Call ends')}])",
        f"    clinic -->|{_label('busy or no answer')}| menu_clinic_unavailable",
        f"    clinic -->|{_label('outside opening hours: no transfer')}| menu_clinic_closed",
        f"    voicemail[[{_label('Voicemail: the caller leaves a message')}]] -->|{_label('message left')}| done",
        f"    voicemail -->|{_label('nothing recorded (the second time: goodbye)')}| menu_topics",
    ]
    if script.questions is not None:
        lines += _question_path(script)
    return "```mermaid\n" + "\n".join(lines) + "\n```\n"


def _question_path(script: Script) -> list[str]:
    """Where a caller asks a question in their own words (questions.yaml), in one line: the README
    keeps to its length."""
    answered = ("questions.yaml: the answer, or “the clinic can help, press 0”; emergency words: "
                f"the 911 line<br/>Then: {script.questions.prompts.after_answer.en}")
    return [f"    menu_topics & menu_after_summary -->|{_label('a question, in the caller’s words')}| "
            f"question([{_label(answered)}])"]


def replace_block(markdown: str, block: str) -> str:
    """``markdown`` with the text between the diagram marks replaced by ``block``."""
    if START_MARK not in markdown or END_MARK not in markdown:
        raise ValueError(f"no {START_MARK} ... {END_MARK} marks to put the diagram between")
    before, _, rest = markdown.partition(START_MARK)
    _, _, after = rest.partition(END_MARK)
    return f"{before}{START_MARK}\n{block}{END_MARK}{after}"
