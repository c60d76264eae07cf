"""The staff content rules: what a schema cannot say about the scripts.

Errors (an option that leads nowhere, a missing {time}) stop a load; warnings (too long,
keys that do not match) are printed by ``flask --app app check`` and never stop the line.
"""
from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime, timedelta

from . import article, text_language
from .questions import NOT_ANSWERED, fold
from .script import (ACTION_KEYS, BACK_KEY, CLINIC, CLINIC_KEY, EMERGENCY_KEY, KEYPAD, LANGUAGE_MENU, LANGUAGE_NAMES,
                     LANGUAGES, MAX_OPTIONS, RESERVED_KEY, SLOWER, SWITCH_KEY, VOICEMAIL, Menus, Opening, OpeningWords,
                     Prompts, QuestionPrompts, Script, Text, normalise)
from .script_yaml import Report
from .texts import check as check_texts

# check warns when closed_on lists no day further ahead than this: staff then have two months
# to add next year's holidays before the list runs out.
HOLIDAYS_NOTICE = timedelta(days=60)

# Spoken-length budgets, in seconds: a caller listens once and must remember the choices.
# (Seconds are estimated as in ivr/timing.py, which also holds the time-to-information budgets.)
MENU_BUDGET, SUMMARY_BUDGET, ANSWER_BUDGET = 15, 90, 20
# Question entries name their answer in the call log and in recordings.
ENTRY_NAME = re.compile(r"[a-z][a-z0-9_]*")


def utc_now() -> datetime:
    """The clock of the line and of its checks (tests freeze it)."""
    return datetime.now(UTC)


# A summary's name travels in the web addresses of a call (and their signatures): plain letters only.
_SIMPLE_NAME = re.compile(r"[a-z0-9_]+")


def _simple_name(name: str) -> str:
    """'Side effects' as 'side_effects', 'recuperación' as 'recuperacion'."""
    return "_".join(normalise(name).split()) or "topic"


def _check_links(report: Report, script: Script) -> None:
    """Rules a schema cannot say: keys, targets, counts."""
    problem = report
    summaries = set(script.summaries)
    for topic in script.summaries:
        if not _SIMPLE_NAME.fullmatch(topic):
            problem(("summaries", topic), f"the name '{topic}' may use only small letters a to z, digits and _ "
                    f"(no spaces or accents): call it {_simple_name(topic)}, here and in every goes_to: {topic}")
    for menu_id in Menus.model_fields:
        menu = script.menu(menu_id)
        loc = ("menus", menu_id)
        if menu.back_to not in summaries | set(Menus.model_fields) | {LANGUAGE_MENU}:
            problem(loc + ("back_to",), f"back_to '{menu.back_to}' is not a menu")
        for key in menu.options:
            if not (key.isdigit() and len(key) == 1) and key != BACK_KEY:
                problem(loc + ("options", key), f"option key '{key}' must be one digit or \"*\"")
        if menu_id == "topics":
            # The topics' keys are theirs in every menu (flow.py), so they must not take a key
            # that means something else everywhere.
            digits = sorted(k for k in menu.options if k not in (BACK_KEY, *ACTION_KEYS))
            if digits and digits != [str(n) for n in range(1, len(digits) + 1)]:
                problem(loc + ("options",), f"options must be numbered 1, 2, 3 ... without gaps, not {', '.join(digits)}")
        if len(menu.options) > MAX_OPTIONS:
            problem(loc + ("options",), f"{len(menu.options)} options; callers can follow at most {MAX_OPTIONS}")
        allowed = summaries | {"topics", CLINIC, VOICEMAIL} | ({SLOWER} if menu_id == "after_summary" else set())
        for key, option in menu.options.items():
            oloc = loc + ("options", key)
            if option.goes_to not in allowed:
                problem(oloc + ("goes_to",), f"option {key} goes to '{option.goes_to}', which does not exist "
                        f"(choose one of: {', '.join(sorted(allowed))})")
            elif key == BACK_KEY and option.goes_to != menu.back_to:
                problem(oloc + ("goes_to",), f'key "*" always goes back (goes_to: {menu.back_to})')
            elif key in ACTION_KEYS and option.goes_to != ACTION_KEYS[key]:
                problem(oloc + ("goes_to",), f"key {key} always means goes_to: {ACTION_KEYS[key]}, in every menu")
            elif key not in ACTION_KEYS and option.goes_to in ACTION_KEYS.values():
                problem(oloc + ("goes_to",), f"{option.goes_to} always has key "
                        f"{next(k for k, v in ACTION_KEYS.items() if v == option.goes_to)}, in every menu")
            elif key == SWITCH_KEY:
                problem(oloc, f"key {SWITCH_KEY} always switches the language; choose another key")
            elif key == EMERGENCY_KEY:
                problem(oloc, f"key {EMERGENCY_KEY} is never a choice: a caller keying 9 1 1 hears the emergency "
                        "line; choose another key")
            elif key == RESERVED_KEY:
                problem(oloc, f"key {RESERVED_KEY} is kept free (to get the information by phone); choose another key")
            elif menu_id != "topics" and key != BACK_KEY and key not in ACTION_KEYS:
                problem(oloc, "keys 1 to 5 are the topics in every menu: use "
                        + ", ".join(f"{k} for {v}" for k, v in ACTION_KEYS.items()) + ' or "*" to go back')
    for lang in LANGUAGES:
        if SWITCH_KEY not in mentioned_keys(getattr(script.opening.switch_language, lang), lang):
            problem(("opening", "switch_language", lang), f"must tell the caller to press {SWITCH_KEY}")

    languages = [o.language for o in script.language_menu.values()]
    for key, option in script.language_menu.items():
        if key not in option.say:
            problem(("language_menu", key, "say"), f"the text does not say the key {key}")
    for lang in LANGUAGES:
        if languages.count(lang) != 1:
            problem(("language_menu",), f"needs exactly one option for language '{lang}'")
    for lang in LANGUAGES:
        template = getattr(script.press, lang)
        if "{option}" not in template or "{key}" not in template:
            problem(("press", lang), f'"{template}" must contain {{option}} and {{key}}')
            continue
        try:
            template.format(option="", key="")
        except (KeyError, IndexError, ValueError):
            problem(("press", lang), f'"{template}" may use only {{option}} and {{key}}, each in {{ }}, like '
                    '"{option}, press {key}."')


# The words each clinic_hours sentence may use, and the one it must use.
_CLINIC_WORDS = {
    ("closed",): ({"opening"}, "opening"),
    ("opening", "today"): ({"time"}, "time"),
    ("opening", "tomorrow"): ({"time"}, "time"),
    ("opening", "this_week"): ({"time", "day"}, "time"),
    ("opening", "later"): ({"time", "day", "date", "month"}, "time"),
}


def _check_clinic_words(report: Report, script: Script) -> None:
    """Every {word} in a clinic_hours sentence is one the line can fill in."""
    for path, (known, required) in _CLINIC_WORDS.items():
        text = script.clinic_hours
        for part in path:
            text = getattr(text, part)
        for lang in LANGUAGES:
            used = set(re.findall(r"{(\w*)}", getattr(text, lang)))
            if used - known or required not in used:
                report(("clinic_hours", *path, lang), f"{'.'.join(path)} ({lang}) must say "
                       f"{{{required}}} and may use only {', '.join(f'{{{w}}}' for w in sorted(known))}")


def _check_speech_hints(report: Report, script: Script) -> None:
    """Every option has words a caller can say instead of pressing, in both languages."""
    for key, option in script.language_menu.items():
        if not option.hints:
            report(("language_menu", key, "hints"), f"option {key} has no words a caller can say (hints)")
    for menu_id in Menus.model_fields:
        for key, option in script.menu(menu_id).options.items():
            for lang in LANGUAGES:
                shared = getattr(script.speech_keys[key], lang) if key in script.speech_keys else []
                if not getattr(option.hints, lang) and not shared:
                    report(("menus", menu_id, "options", key, "hints"),
                           f"option {key} has no {LANGUAGE_NAMES[lang]} words a caller can say "
                           f"(add some under hints: {lang}:)")


def _reached(script: Script) -> set[str]:
    """Every menu, summary and action a caller can reach from the language menu."""
    # The language menu leads to the topics; 0 reaches the clinic, and so the menus for
    # when the clinic does not answer or is closed, from every menu.
    todo, seen = ["topics", CLINIC, "clinic_unavailable", "clinic_closed"], set()
    while todo:
        target = todo.pop()
        if target in seen:
            continue
        seen.add(target)
        if target in script.summaries:
            todo.append("after_summary")
        if script.has_menu(target):
            menu = script.menu(target)
            todo += [option.goes_to for option in menu.options.values()] + [menu.back_to]
    return seen


def _check_reachable(report: Report, script: Script) -> None:
    reached = _reached(script)
    for topic in script.summaries:
        if topic not in reached:
            report(("summaries", topic), f"no menu option goes to '{topic}', so callers never hear it "
                   f"(add an option with goes_to: {topic}, or delete this summary)")
    for menu_id in Menus.model_fields:
        if menu_id not in reached:
            report(("menus", menu_id), "no caller can reach this menu")
    if VOICEMAIL not in reached:
        for name in ("voicemail", "voicemail_thanks", "voicemail_empty"):
            report(("prompts", name), "never heard: no menu option goes to voicemail", warning=True)


# -- warnings: what a caller would find too long or confusing --------------------

_PRESS_WORDS = {"en": {"press"}, "es": {"oprima", "marque", "presione", "pulse"}}
_KEY_NAMES = {
    "en": {"star": "*", "pound": "#", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4",
           "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9"},
    "es": {"asterisco": "*", "gato": "#", "cero": "0", "uno": "1", "dos": "2", "tres": "3", "cuatro": "4",
           "cinco": "5", "seis": "6", "siete": "7", "ocho": "8", "nueve": "9"},
}
_BETWEEN_PRESS_AND_KEY = {"the", "key", "la", "tecla", "el", "de"}


def mentioned_keys(text: str, lang: str) -> set[str]:
    """Keys a text tells the caller to press, e.g. "press 3" or "oprima la tecla asterisco"."""
    plain = unicodedata.normalize("NFKD", text.casefold())
    words = re.sub(r"[^\w*#]+", " ", "".join(c for c in plain if not unicodedata.combining(c))).split()
    keys = set()
    for i, word in enumerate(words):
        if word not in _PRESS_WORDS[lang]:
            continue
        following = [w for w in words[i + 1:i + 5] if w not in _BETWEEN_PRESS_AND_KEY]
        key = _KEY_NAMES[lang].get(following[0], following[0]) if following else None
        if key in set(KEYPAD):  # not "911", which is dialled, not pressed in a menu
            keys.add(key)
    return keys


def _spoken(keys) -> str:
    """Keys in keypad-menu order: 1 to 9, then 0, * and #."""
    return ", ".join(sorted(keys, key=KEYPAD.index)) or "no key"


def _check_mentioned_keys(report: Report, script: Script) -> None:
    """Texts that name a key: the same key in both languages, and one that does something there."""

    def check(loc: tuple, text: Text, works: set[str] | None) -> None:
        said = {lang: mentioned_keys(getattr(text, lang), lang) for lang in LANGUAGES}
        if said["en"] != said["es"]:
            report(loc, f"English tells callers to press {_spoken(said['en'])} but Spanish says "
                   f"{_spoken(said['es'])}", warning=True)
        for lang in LANGUAGES:
            for key in sorted(said[lang] - (works if works is not None else said[lang])):
                report(loc + (lang,), f"the {LANGUAGE_NAMES[lang]} text says to press {key}, but {key} does "
                       f"nothing here (keys: {_spoken(works)})", warning=True)

    for name in Prompts.model_fields:
        check(("prompts", name), getattr(script.prompts, name), None)
    for name in Opening.model_fields:
        check(("opening", name), getattr(script.opening, name), None)
    for menu_id in Menus.model_fields:
        menu = script.menu(menu_id)
        # After a language is chosen, the topic keys and the language switch work everywhere.
        works = set(menu.options) | set(script.menu("topics").options) | {BACK_KEY, SWITCH_KEY, *ACTION_KEYS}
        if menu.intro:
            check(("menus", menu_id, "intro"), menu.intro, works)
        for key, option in menu.options.items():
            check(("menus", menu_id, "options", key, "say"), option.say, works)
    # A summary plays inside the after-summary menu, so its keys are the ones that work.
    after_summary = (set(script.menu("after_summary").options) | set(script.menu("topics").options)
                     | {BACK_KEY, SWITCH_KEY, *ACTION_KEYS})
    for topic, text in script.summaries.items():
        check(("summaries", topic), text, after_summary)
    # Each language-menu line is in its own language and names its own key (0 works too).
    for key, option in script.language_menu.items():
        for other in sorted(mentioned_keys(option.say, option.language) - {key, CLINIC_KEY}):
            report(("language_menu", key, "say"), f"says to press {other}, but this line's key is {key}",
                   warning=True)


def sentences(text: str) -> list[str]:
    """The sentences of ``text``, as ivr/timing.py times them."""
    from .timing import sentences as split  # timing.py uses this module's mentioned_keys

    return split(text)


def spoken_seconds(text: str, lang: str) -> float:
    """Estimated time to say ``text`` in ``lang`` on the line (ivr/timing.py: the pace of the budgets)."""
    from .timing import spoken_seconds as estimate  # timing.py uses this module's mentioned_keys

    return estimate(text, lang)


def _check_lengths(report: Report, script: Script) -> None:
    def check(loc: tuple, prompt_id: str, budget: int, kind: str, advice: str) -> None:
        for lang in LANGUAGES:
            text = script.text(prompt_id, lang)
            seconds = spoken_seconds(text, lang)
            if seconds > budget:
                report(loc, f"about {seconds:.1f} s in {LANGUAGE_NAMES[lang]} ({len(text.split())} words); "
                       f"a {kind} should take at most {budget} s: {advice}", warning=True)

    check(("language_menu",), f"menu.{LANGUAGE_MENU}", MENU_BUDGET, "menu", "shorten the lines")
    for menu_id in Menus.model_fields:
        # The choices a caller must remember: the options, after any intro.
        intro = script.menu(menu_id).intro
        for lang in LANGUAGES:
            seconds = spoken_seconds(script.menu_text(menu_id, lang), lang) - (
                spoken_seconds(getattr(intro, lang), lang) if intro else 0)
            if seconds > MENU_BUDGET:
                report(("menus", menu_id), f"its options take about {seconds:.1f} s in {LANGUAGE_NAMES[lang]}; "
                       f"a caller remembers at most {MENU_BUDGET} s of choices: shorten the options", warning=True)
    for topic in script.summaries:
        check(("summaries", topic), f"summary.{topic}", SUMMARY_BUDGET, "summary", "shorten the text")


def _check_time_to_information(report: Report, script: Script) -> None:
    """Seconds from the first word of a call to the first word of each summary (ivr/timing.py)."""
    from .timing import over_budget

    for message in over_budget(script):
        report(("menus", "topics"), message, warning=True)


def _check_holidays_ahead(report: Report, script: Script) -> None:
    """Holidays are listed year by year: say so before the list runs out, not after."""
    hours = script.clinic_hours
    today = utc_now().astimezone(hours.zone).date()
    if not any(day > today + HOLIDAYS_NOTICE for day in hours.closed_on):
        last = f"ends on {max(hours.closed_on)}" if hours.closed_on else "is empty"
        report(("clinic_hours", "closed_on"), f"the list of closed days {last}: add the clinic's next "
               "holidays, or on those days 0 will transfer callers to a closed clinic", warning=True)


def _check_ambiguous_hints(report: Report, script: Script) -> None:
    """A word listed for two options chooses neither (flow.key_from_speech needs one match)."""
    for menu_id in Menus.model_fields:
        for lang in LANGUAGES:
            keys_of: dict[str, set[str]] = {}
            for key, option in script.menu(menu_id).options.items():
                shared = getattr(script.speech_keys[key], lang) if key in script.speech_keys else []
                for word in [*getattr(option.hints, lang), *shared]:
                    keys_of.setdefault(normalise(word), set()).add(key)
            for word, keys in keys_of.items():
                if len(keys) > 1:
                    report(("menus", menu_id, "options"), f'"{word}" is a hint for options {_spoken(keys)} in '
                           f"{LANGUAGE_NAMES[lang]}: a caller who says it gets neither", warning=True)


def _fact_parts(fact: str) -> list[list[str]]:
    """ "go home | discharged + twenty-four hours" as [["go home", "discharged"], ["twenty-four hours"]]."""
    return [[" ".join(choice.casefold().split()) for choice in part.split("|")] for part in fact.split(" + ")]


def _says(text: str, choices: list[str]) -> bool:
    said = " ".join(text.casefold().split())
    return any(choice in said for choice in choices)


def _either(choices: list[str]) -> str:
    return " or ".join(f"'{choice}'" for choice in choices)


def _check_key_facts(report: Report, script: Script, wrong_language: set[tuple]) -> set[tuple]:
    """Each summary still says the facts from the article that callers need, and a fact tied to
    what it says ("go home + twenty-four hours") is said whole, in one sentence, wherever part of
    it is said: in every summary and every answer.

    Returns the sentences already reported, as (where, sentence)."""
    reported = set()
    tied = []
    for topic, facts in script.key_facts.items():
        if topic not in script.summaries:
            report(("key_facts", topic), f"key facts for '{topic}', but there is no summary '{topic}' "
                   "(delete these key facts, or fix the name)")
            continue
        for lang in LANGUAGES:
            loc = ("summaries", topic, lang)
            listed = report.where(("key_facts", topic, lang))
            if loc in wrong_language:
                continue  # its language is the one thing to fix
            text = getattr(script.summaries[topic], lang)
            for fact in getattr(facts, lang):
                parts = _fact_parts(fact)
                if len(parts) > 1:
                    tied.append((lang, parts, listed))
                if any(all(_says(sentence, part) for part in parts) for sentence in sentences(text)):
                    continue
                if len(parts) == 1:
                    report(loc, f"{topic} ({lang}) no longer mentions {_either(parts[0])}, a key fact from the "
                           f"article: say it again in this summary (the key facts are listed in {listed})")
                else:
                    report(loc, f"{topic} ({lang}) no longer says {' together with '.join(map(_either, parts))} "
                           f"in one sentence, a key fact from the article: say it again in this summary (the key "
                           f"facts are listed in {listed})")
    for loc, lang, text in spoken_texts(script):
        if loc in wrong_language:
            continue
        for sentence in sentences(text):
            for fact_lang, parts, listed in tied:
                if fact_lang != lang or (loc, sentence) in reported or not _says(sentence, parts[0]):
                    continue
                missing = [part for part in parts[1:] if not _says(sentence, part)]
                if missing:
                    reported.add((loc, sentence))
                    report(loc, f'"{_clip(sentence)}" says {_either(parts[0])} without {_either(missing[0])}: the '
                           f"article ties them, so say {_either(missing[0])} in this sentence (the key facts are "
                           f"listed in {listed})", quote=sentence)
    return reported


def _check_article(report: Report, script: Script, wrong_language: set[tuple], reported: set[tuple]) -> None:
    """No number, length of time or medicine that the article does not have, in any text."""
    source = article.article()
    if source is None:
        report(("summaries",), f"{article.ARTICLE} is missing, so numbers and medicines were not compared "
               "with the article", warning=True)
        return
    for loc, lang, text in spoken_texts(script):
        if loc in wrong_language:
            continue
        for sentence in sentences(text):
            if (loc, sentence) in reported:
                continue
            found = article.not_in_article(sentence, lang, source)
            if found:
                report(loc, f"the {LANGUAGE_NAMES[lang]} text says {found}: say only what "
                       "docs/source-article.txt says", quote=sentence)
                break


def spoken_texts(script: Script):
    """Every text a caller can hear, as staff wrote it: (where in the YAML, language, text).

    A menu option is its whole spoken line ("For recovery, press 2."), so a short option is
    judged with its key words.
    """
    for section, model in (("prompts", Prompts), ("opening", Opening)):
        for name in model.model_fields:
            for lang in LANGUAGES:
                yield (section, name, lang), lang, getattr(getattr(getattr(script, section), name), lang)
    for key, option in script.language_menu.items():
        yield ("language_menu", key, "say"), option.language, option.say
    for menu_id in Menus.model_fields:
        menu = script.menu(menu_id)
        for lang in LANGUAGES:
            if menu.intro:
                yield ("menus", menu_id, "intro", lang), lang, getattr(menu.intro, lang)
            for key, option in menu.options.items():
                spoken_key = getattr(script.star, lang) if key == BACK_KEY else key
                line = getattr(script.press, lang).format(option=getattr(option.say, lang), key=spoken_key)
                yield ("menus", menu_id, "options", key, "say", lang), lang, line
    for topic, text in script.summaries.items():
        for lang in LANGUAGES:
            yield ("summaries", topic, lang), lang, getattr(text, lang)
    hours = script.clinic_hours
    for path, text in [(("closed",), hours.closed)] + [(("opening", name), getattr(hours.opening, name))
                                                        for name in OpeningWords.model_fields]:
        for lang in LANGUAGES:
            yield ("clinic_hours", *path, lang), lang, getattr(text, lang)
    if script.questions is not None:
        for name in QuestionPrompts.model_fields:
            for lang in LANGUAGES:
                yield ("questions", "prompts", name, lang), lang, getattr(getattr(script.questions.prompts, name), lang)
        for entry_id, entry in script.questions.entries.items():
            for lang in LANGUAGES:
                yield ("questions", "entries", entry_id, "answer", lang), lang, getattr(entry.answer, lang)
    if script.to_your_phone is not None:
        # Key 5 (texts.yaml): what the line says, and each topic's text message (its clinic line, with
        # the clinic's hours and {phone}, is the clinic's, not the article's).
        for name in type(script.to_your_phone.say).model_fields:
            for lang in LANGUAGES:
                yield ("to_your_phone", "say", name, lang), lang, script.to_your_phone.prompt(name, lang)
        for topic, words in script.to_your_phone.text_messages.topics.items():
            for lang in LANGUAGES:
                yield ("to_your_phone", "text_messages", "topics", topic, lang), lang, getattr(words, lang)


def question_examples(script: Script):
    """The example questions of questions.yaml: (where, language, example)."""
    if script.questions is None:
        return
    for lang in LANGUAGES:
        for example in getattr(script.questions.not_answered.asked, lang):
            yield ("questions", "not_answered", "asked", lang), lang, example
        for entry_id, entry in script.questions.entries.items():
            for example in getattr(entry.asked, lang):
                yield ("questions", "entries", entry_id, "asked", lang), lang, example


def _in_other_language(text: str, lang: str) -> tuple[str, str] | None:
    """What in ``text`` is in the other language, as (how staff are told, the words to point at)."""
    other = next(each for each in LANGUAGES if each != lang)
    name = LANGUAGE_NAMES[other]
    if text_language.language_of(text) == other:
        return f"is in {name}", text
    parts = sentences(text)
    for sentence in parts:
        if len(parts) > 1 and text_language.language_of(sentence) == other:
            return f'has {name} in it: "{_clip(sentence)}"', sentence
        word = text_language.other_language_word(sentence, lang)
        if word:
            return f'has the {name} word "{word}" in it: "{_clip(sentence)}"', sentence
    return None


def _check_languages(report: Report, script: Script) -> set[tuple]:
    """Each text in the language of its slot: a Spanish caller never hears English, nor the other way.

    Returns where the texts in the wrong language are, so the checks of what a text says skip
    them: their one cause is the language."""
    wrong = set()
    for loc, lang, text in spoken_texts(script):
        found = _in_other_language(text, lang)
        if found is None:
            continue
        said, words = found
        wrong.add(loc)
        slot = f"{lang}:" if loc[-1] == lang else f"language: {lang}"
        report(loc, f"the {LANGUAGE_NAMES[lang]} text ({slot}) {said}: write it in {LANGUAGE_NAMES[lang]}; "
               f"callers who chose {LANGUAGE_NAMES[lang]} hear every word of it",
               quote=None if words == text else words)
    for loc, lang, example in question_examples(script):
        found = _in_other_language(example, lang)
        if found is not None:
            other = LANGUAGE_NAMES[next(each for each in LANGUAGES if each != lang)]
            report(loc, f'the example "{_clip(example)}" under asked: {lang}: {found[0].split(":")[0]}: write it '
                   f"in {LANGUAGE_NAMES[lang]}, or move it to the {other} examples", quote=example)
    return wrong


def _clip(text: str, length: int = 60) -> str:
    return text if len(text) <= length else text[:length].rsplit(" ", 1)[0] + "…"


def _check_questions(report: Report, script: Script) -> None:
    """questions.yaml: simple entry names, short answers, the same keys in both languages, and
    examples that lead to one place only."""
    questions = script.questions
    if questions is None:
        return
    works = set(script.menu("topics").options) | {CLINIC_KEY, BACK_KEY}
    texts = [(("questions", "prompts", name), getattr(questions.prompts, name)) for name in QuestionPrompts.model_fields]
    answered = [(("questions", "entries", entry_id), entry_id, entry) for entry_id, entry in questions.entries.items()]
    answered += [(("questions", "out_of_scope", kind), kind, item) for kind, item in questions.out_of_scope.items()]
    for loc, entry_id, entry in answered:
        if not ENTRY_NAME.fullmatch(entry_id):
            report(loc, f"entry name '{entry_id}' may use only a-z, digits and _ (like heavy_lifting)")
        texts.append((loc + ("answer",), entry.answer))
        for lang in LANGUAGES:
            text = script.text(f"answer.{entry_id}", lang)  # with its "about" first, as callers hear it
            seconds = spoken_seconds(text, lang)
            if seconds > ANSWER_BUDGET:
                report(loc + ("answer", lang), f"about {seconds:.1f} s in {LANGUAGE_NAMES[lang]} "
                       f"({len(text.split())} words); an answer should take at most {ANSWER_BUDGET} s: "
                       "shorten it", warning=True)
    for loc, text in texts:
        said = {lang: mentioned_keys(getattr(text, lang), lang) for lang in LANGUAGES}
        if said["en"] != said["es"]:
            report(loc, f"English tells callers to press {_spoken(said['en'])} but Spanish says "
                   f"{_spoken(said['es'])}", warning=True)
        for lang in LANGUAGES:
            for key in sorted(said[lang] - works):
                report(loc + (lang,), f"the {LANGUAGE_NAMES[lang]} text says to press {key}, but {key} does "
                       f"nothing after an answer (keys: {_spoken(works)})", warning=True)
    index = questions.index
    for lang in LANGUAGES:
        owner: dict[str, str] = {}
        examples = [(NOT_ANSWERED, ("questions", "not_answered", "asked", lang), q)
                    for q in getattr(questions.not_answered.asked, lang)]
        examples += [(entry_id, loc + ("asked", lang), q) for loc, entry_id, entry in answered
                     for q in getattr(entry.asked, lang)]
        for label, loc, question in examples:
            first = owner.setdefault(fold(question), label)
            if first != label:
                report(loc, f'"{question}" is listed for both {first} and {label} ({LANGUAGE_NAMES[lang]}): '
                       "keep it in one place only", warning=True)
            if index.is_emergency(question, lang):
                report(loc, f'"{question}" sounds like an emergency (questions.emergency), so callers who ask it '
                       "hear the emergency sentence, never this answer", warning=True)


def _check_to_your_phone(report: Report, script: Script) -> None:
    """texts.yaml: the text messages and what the line says about key 5 (ivr/texts.py)."""
    check_texts(report, script)


def run_checks(report: Report, script: Script) -> None:
    """Every rule, errors and warnings, on a script that passed the schema."""
    _check_links(report, script)
    _check_clinic_words(report, script)
    if report.problems:  # the checks below assume every option leads somewhere
        return
    # The causes first: a text in the wrong language is not also reported for each fact it lacks.
    wrong_language = _check_languages(report, script)
    reported = _check_key_facts(report, script, wrong_language)
    _check_article(report, script, wrong_language, reported)
    for check in (_check_speech_hints, _check_reachable,
                  _check_mentioned_keys, _check_lengths, _check_time_to_information, _check_ambiguous_hints,
                  _check_holidays_ahead, _check_questions, _check_to_your_phone):
        check(report, script)
