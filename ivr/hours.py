"""Is the clinic open now, when does it open next, and how to say that to a caller.

Pure functions of the clinic's hours (ivr/menus/clinic.yaml) and a time-zone-aware ``now``,
so tests can freeze the clock. Opening times are wall-clock times in the clinic's time zone:
8:00 is 8 a.m. in Dallas in winter and in summer, which is why nothing here adds hours in UTC.
"""
from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from .script import ClinicHours

# Beyond this many days away, the next opening is said with its date, not just the day's name.
DAYS_NAMED_WITHOUT_DATE = 6


def is_open(hours: ClinicHours, now: datetime) -> bool:
    local = now.astimezone(hours.zone)
    today = hours.hours_on(local.date())
    return today is not None and today[0] <= local.time() < today[1]


def next_opening(hours: ClinicHours, now: datetime) -> datetime:
    """The next time the clinic opens after ``now``, in the clinic's time zone."""
    day = now.astimezone(hours.zone).date()
    # Ends: closed_on lists finitely many dates, and the schema requires an open weekday.
    while True:
        today = hours.hours_on(day)
        if today is not None:
            opens = datetime.combine(day, today[0], tzinfo=hours.zone)
            # Compared in UTC: aware datetimes sharing a tzinfo compare by wall clock alone.
            if opens.astimezone(UTC) > now.astimezone(UTC):
                return opens
        day += timedelta(days=1)


def spoken_time(moment: time, lang: str) -> str:
    """A time of day as a person says it: "8 a.m.", "12:30 p.m." / "las 8 de la mañana"."""
    hour = moment.hour % 12 or 12
    clock = f"{hour}:{moment.minute:02d}" if moment.minute else str(hour)
    if lang == "en":
        if moment == time(12):
            return "noon"
        return f"{clock} {'a.m.' if moment.hour < 12 else 'p.m.'}"
    if moment.hour < 12:
        part = "de la mañana"
    elif moment.hour < 13:
        part = "del mediodía"
    elif moment.hour < 20:
        part = "de la tarde"
    else:
        part = "de la noche"
    return f"{'la' if hour == 1 else 'las'} {clock} {part}"


def spoken_opening(hours: ClinicHours, now: datetime, lang: str) -> str:
    """When the clinic opens next, as words: "Monday at 8 a.m." / "el lunes a las 8 de la mañana"."""
    opens = next_opening(hours, now)
    days_ahead = (opens.date() - now.astimezone(hours.zone).date()).days
    if days_ahead == 0:
        template = hours.opening.today
    elif days_ahead == 1:
        template = hours.opening.tomorrow
    elif days_ahead <= DAYS_NAMED_WITHOUT_DATE:
        template = hours.opening.this_week
    else:
        template = hours.opening.later
    return getattr(template, lang).format(
        time=spoken_time(opens.time(), lang),
        day=getattr(hours.day_names, lang)[opens.weekday()],
        date=opens.day,
        month=getattr(hours.month_names, lang)[opens.month - 1],
    )


def closed_message(hours: ClinicHours, now: datetime, lang: str) -> str:
    """What a caller hears on asking for the clinic while it is closed."""
    opening = spoken_opening(hours, now, lang)
    template = getattr(hours.closed, lang)
    if opening.endswith("."):  # "... at 8 a.m." already ends the sentence
        template = template.replace("{opening}.", "{opening}")
    return template.format(opening=opening)
