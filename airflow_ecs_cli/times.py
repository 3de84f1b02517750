"""Times and durations as operators type them: `--in 90m`, `--at 18:30`, `--since 10m`, and the
user's own time zone (IANA name), which scheduled actions carry so they follow summer time."""

from __future__ import annotations

import os
import re
import zoneinfo
from datetime import datetime, timedelta, tzinfo
from pathlib import Path

from airflow_ecs_cli.errors import bad_input

DURATION_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
DURATION_PATTERN = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
ZONEINFO_ROOTS = ("/usr/share/zoneinfo/", "/var/db/timezone/zoneinfo/")


def parse_duration(text: str, *, option: str) -> timedelta:
    """`90s`, `10m`, `2h`, `1h30m`, `1d`; above zero."""
    match = DURATION_PATTERN.fullmatch(text.strip().lower())
    if not text.strip() or match is None or not any(match.groups()):
        raise bad_input(f"{option}: {text!r} is not a duration: expected e.g. 90s, 10m, 2h or 1h30m")
    seconds = sum(
        int(value or 0) * factor for value, factor in zip(match.groups(), DURATION_UNITS.values(), strict=True)
    )
    if seconds <= 0:
        raise bad_input(f"{option}: {text!r} is not a duration above zero")
    return timedelta(seconds=seconds)


def time_zone(name: str | None) -> zoneinfo.ZoneInfo:
    """The named IANA zone, else the machine's own (TZ, /etc/localtime, /etc/timezone), else UTC."""
    candidate = name or local_time_zone_name()
    try:
        return zoneinfo.ZoneInfo(candidate)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise bad_input(f"--tz: {candidate!r} is not an IANA time zone such as Europe/Berlin or UTC") from None


def local_time_zone_name() -> str:
    configured = os.environ.get("TZ", "").lstrip(":")
    if configured and _is_zone(configured):
        return configured
    localtime = Path("/etc/localtime")
    if localtime.is_symlink():
        target = str(localtime.resolve())
        for root in ZONEINFO_ROOTS:
            if target.startswith(root) and _is_zone(target[len(root) :]):
                return target[len(root) :]
    timezone_file = Path("/etc/timezone")
    if timezone_file.exists():
        named = timezone_file.read_text().strip()
        if _is_zone(named):
            return named
    return "UTC"


def _is_zone(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def parse_at(text: str, zone: tzinfo, now: datetime) -> datetime:
    """`HH:MM` (the next such time: today, or tomorrow once passed) or `YYYY-MM-DD HH:MM`, in `zone`."""
    text = text.strip()
    local_now = now.astimezone(zone)
    clock = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", text)
    if clock:
        at = local_now.replace(hour=int(clock[1]), minute=int(clock[2]), second=0, microsecond=0)
        return at if at > local_now else at + timedelta(days=1)
    try:
        parsed = datetime.strptime(text.replace("T", " "), "%Y-%m-%d %H:%M")
    except ValueError:
        raise bad_input(f"--at: {text!r} is not a time: expected HH:MM or YYYY-MM-DD HH:MM") from None
    at = parsed.replace(tzinfo=zone)
    if at <= local_now:
        raise bad_input(f"--at: {text} is in the past (now {local_now:%Y-%m-%d %H:%M} {zone})")
    return at


def since(text: str, now: datetime) -> datetime:
    """`--since 10m` (a duration back from now) or an ISO time (`2026-11-26T14:00`, local when no zone)."""
    duration = DURATION_PATTERN.fullmatch(text.strip().lower())
    if duration is not None and any(duration.groups()):
        return now - parse_duration(text, option="--since")
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise bad_input(f"--since: {text!r} is neither a duration (10m, 2h) nor a time (2026-11-26T14:00)") from None
    return parsed if parsed.tzinfo else parsed.astimezone()


def epoch_millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)
