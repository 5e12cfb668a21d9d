"""What ``coinval run`` prints: one line per coin, a running total, a summary.

Each coin's story comes from three places at three moments: the simulated
head knows what it really was (:class:`Truth`), the engine's money path says
what it decided and which ccTalk event it produced (``CoinOutcome``), and the
virtual parking machine reads that event from the credit buffer up to a poll
later (``HostEvent``).  :class:`RunDisplay` joins them and prints one line per
coin, in fixed columns, numbered by the order the coins went in.

Why a line waits for the parking machine's read: the money path hands events
over in the order the coins arrived, and the machine reads them in that order
(the kth coin event it reads is the kth outcome), so waiting for a coin's read
never holds back a later coin that is already complete.  The line is then
final: what the machine credited is on it, not in a line of its own further
down.  Only if the read is more than :attr:`RunDisplay.read_grace_s` late (the
machine polls every 200 ms) is the line printed without it, and a short
follow-up line says what was read when it comes.

On a vending machine (``coinval run --mdb``) the machine is an MDB VMC: it
reads a deposit for a credit, a slug or a status for some refusals, and
nothing at all for a coin simply returned; ``RunDisplay(told=...)`` says which
event the machine is told for each outcome, and a line told nothing is final
at once.

Colour (through ``rich``) only when stdout is a terminal and ``NO_COLOR`` is
not set: piped output stays plain text for logs and tests.
"""

from __future__ import annotations

import functools
import os
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

from rich.console import Console
from rich.text import Text

from coinval.catalogue import coins as catalogue_coins
from firmware_bridge.cctalk.credit_buffer import BufferedEvent, CreditEvent, ErrorEvent
from firmware_bridge.cctalk.headers import AcceptorError

if TYPE_CHECKING:
    from firmware_bridge.runtime.money import CoinOutcome
    from sim.scenario import ScriptedCoin
    from sim.virtual_host import HostEvent

__all__ = [
    "LEGEND",
    "CoinLine",
    "RunDisplay",
    "Truth",
    "coin_label",
    "format_line",
    "summary_lines",
    "use_colour",
]

# Column widths: the widest value each column takes with the simulator's kinds
# ("fake struck-brass-round-pound", "accepted 12-sided £1"), so columns line up.
_NUMBER_W = 4
_TRUTH_W = 30
_ENGINE_W = 21
_CREDIT_W = 8

HEADER = (
    f"{'#':>{_NUMBER_W}}  {'really was':<{_TRUTH_W}}  {'engine decided':<{_ENGINE_W}}  "
    f"{'credited':<{_CREDIT_W}}  why"
)

LEGEND = (
    "One line per coin, in the order they went in, printed once the parking machine "
    "has read its event:\n"
    "  #               the coin's number (1 = the first coin inserted)\n"
    "  really was      what the simulated head put in: genuine coin, fake (a counterfeit "
    "family) or\n"
    "                  look-alike (a real piece that is not a UK coin); a mishap after "
    "the gate in brackets\n"
    "  engine decided  accepted, counterfeit, unknown (like no taught coin) or inhibited "
    "(recognised,\n"
    "                  but not to be taken), with the coin it recognised\n"
    "  credited        what the parking machine read: the credit's value, '-' for a "
    "refusal, 'not read'\n"
    "                  if it read nothing for this coin\n"
    "  why             the reason in words\n"
    "Every {every} coins a running total; at the end a summary and the money check "
    "(cash box = credits\nreported = credits read)."
)

#: Events for a coin the gate let in that did not end as a credit: taken in, not returned.
_TAKEN_IN_ERRORS = frozenset(
    {
        AcceptorError.CREDIT_SENSOR_TIMEOUT,
        AcceptorError.COIN_GOING_BACKWARDS,
        AcceptorError.COIN_ON_STRING,
    }
)

#: The engine's measurement names in words (``coinval.features.FEATURE_NAMES``).
_FEATURE_WORDS: dict[str, str] = {
    "diameter_mm": "diameter",
    "thickness_mm": "thickness",
    "edge_depth_mm": "milling depth",
    "edge_sharpness": "milling sharpness",
    "log_milling_mm": "milling pitch",
    "milling_alternation": "milled/plain edge pattern",
    "log_lettering_mm": "edge lettering",
    "inductive_width_mm": "size in the coils",
    "lo_level": "conductivity",
    "hi_level": "surface conductivity",
    "lo_ring": "ring conductivity",
    "lo_core": "core conductivity",
    "hi_ring": "ring surface conductivity",
    "hi_core": "core surface conductivity",
    "lo_core_vs_ring": "core-to-ring contrast",
    "hi_core_vs_ring": "core-to-ring contrast",
    "hi_vs_lo_ring": "ring plating",
    "hi_vs_lo_core": "core plating",
    "hi_vs_lo_level": "plating",
    "lo_core_width_mm": "core size",
    "hi_core_width_mm": "core size",
    "lo_ring_loss_angle": "ring alloy",
    "lo_core_loss_angle": "core alloy",
    "hi_ring_loss_angle": "ring alloy",
    "hi_core_loss_angle": "core alloy",
}

_NEAREST = re.compile(r"^nearest (?P<coin>\S+): (?P<rest>.*?)(?: \(distance [^)]*\))?$")
_FEATURE_OFF = re.compile(r"^(?P<name>\w+) [\d.]+ widths (?P<way>high|low)$")
_EDGES = re.compile(r"^(?P<got>\d+) edges on the rim where \S+ has (?P<need>\d+)$")


def use_colour(stream: TextIO, environ: Mapping[str, str] | None = None) -> bool:
    """Colour only for a person at a terminal: not when piped, not under ``NO_COLOR``."""
    env = os.environ if environ is None else environ
    if env.get("NO_COLOR"):  # https://no-color.org: any non-empty value
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _pounds(pence: int) -> str:
    return f"£{pence // 100}.{pence % 100:02d}"


@functools.cache
def _labels() -> dict[str, str]:
    """Short coin names: ``£1``, ``50p``, with the catalogue's qualifier where values repeat."""
    specs = catalogue_coins()
    values = Counter(s.value_pence for s in specs.values())
    out: dict[str, str] = {}
    for cid, spec in specs.items():
        pence = spec.value_pence or 0
        value = f"£{pence // 100}" if pence >= 100 else f"{pence}p"
        qualifier = ""
        if values[spec.value_pence] > 1 and "(" in spec.name:
            # "one pound (12-sided, bimetallic)" -> "12-sided £1"
            qualifier = spec.name.split("(", 1)[1].split(",")[0].rstrip(")") + " "
        out[cid] = qualifier + value
    return out


def coin_label(coin_id: str) -> str:
    """``gb-100-1983`` -> ``round £1``; an id the catalogue does not know as it is."""
    return _labels().get(coin_id, coin_id)


def _date(coin_id: str, until: bool) -> str:
    spec = catalogue_coins().get(coin_id)
    day = None if spec is None else (spec.legal_tender_until if until else spec.legal_tender_from)
    return "?" if day is None else f"{day.day} {day:%b %Y}"


@dataclass(frozen=True, slots=True)
class Truth:
    """What a coin really was, as the simulator made it.

    Attributes
    ----------
    index : int
        0, 1, ... in insertion order.
    kind : str
        A coin id, counterfeit family or look-alike.
    category : {"genuine", "counterfeit", "lookalike"}
    behaviour : str
        After the gate: ``"normal"``, ``"on string"``, ``"going backwards"``, ``"stuck"``.
    """

    index: int
    kind: str
    category: str
    behaviour: str = "normal"

    @classmethod
    def of(cls, coin: ScriptedCoin) -> Truth:
        """The truth about one scripted coin of the simulated head."""
        return cls(coin.index, coin.kind, coin.category, coin.behaviour.value)

    @property
    def fake(self) -> bool:
        """A counterfeit or a look-alike: it must be refused."""
        return self.category != "genuine"

    def describe(self) -> str:
        """``genuine round £1``, ``fake cast-round-pound``, ``look-alike euro-1``."""
        if self.category == "genuine":
            text = f"genuine {coin_label(self.kind)}"
        elif self.category == "counterfeit":
            text = f"fake {self.kind}"
        else:
            text = f"look-alike {self.kind}"
        if self.behaviour != "normal":
            text += f" ({self.behaviour.replace('going ', '')})"
        return text


@dataclass(frozen=True, slots=True)
class CoinLine:
    """One coin's line: everything known about it when it is printed.

    Attributes
    ----------
    order : int
        1, 2, ... in the order the engine reported coins (the line number when
        the simulator's own number is unknown).
    truth : Truth or None
        None when the simulated head has no record of the coin.
    outcome : CoinOutcome or None
        None for a coin the head inserted but the engine never reported.
    read : HostEvent or None
        What the parking machine read for it; None if nothing (yet).
    taught : frozenset of str
        The profile's coins: a genuine coin outside them is "not taught"
        (empty: not known, nothing is said about it).
    machine : str
        What the machine is, in words.
    expected : BufferedEvent or None
        The event the machine should read for it (None: the outcome's own).
    silent : bool
        The machine is told nothing about this coin (MDB: a coin returned).
    """

    order: int
    truth: Truth | None
    outcome: CoinOutcome | None
    read: HostEvent | None
    taught: frozenset[str] = frozenset()
    machine: str = "parking machine"
    expected: BufferedEvent | None = None
    silent: bool = False

    @property
    def number(self) -> int:
        """The coin's number: its place in the order it went in."""
        return self.truth.index + 1 if self.truth is not None else self.order

    @property
    def accepted(self) -> bool:
        """The engine accepted it and the gate opened: the coin was taken in."""
        o = self.outcome
        if o is None or o.decision is None or not o.decision.accepted:
            return False
        return isinstance(o.event, CreditEvent) or o.event.code in _TAKEN_IN_ERRORS

    @property
    def credited_pence(self) -> int:
        """Value of the credit the parking machine read for it (0 for none)."""
        r = self.read
        return r.value_pence if r is not None and isinstance(r.event, CreditEvent) else 0

    @property
    def credited(self) -> bool:
        """The parking machine read a credit for it."""
        return self.read is not None and isinstance(self.read.event, CreditEvent)

    @property
    def read_matches(self) -> bool:
        """What the machine read is the event the engine reported (True while unread)."""
        if self.read is None or self.outcome is None:
            return True
        return self.read.event == (self.expected or self.outcome.event)

    def engine_column(self) -> str:
        """The engine's decision and the coin it recognised."""
        o = self.outcome
        if o is None:
            return "never reported"
        d = o.decision
        if d is None:
            return "not decided"
        return f"{d.reason} {coin_label(d.coin)}" if d.coin else d.reason

    def credit_column(self) -> str:
        """``£1.00``, ``-`` (refusal read) or ``not read``."""
        if self.read is None:
            return "-" if self.silent else "not read"
        return _pounds(self.credited_pence) if self.credited else "-"

    def why(self) -> tuple[str, str]:
        """The reason in words, and its short form the summary groups by."""
        words, group = self._why()
        if self.read is None and self.outcome is not None and not self.silent:
            if isinstance(self.outcome.event, CreditEvent):
                words, group = f"{words}, but the {self.machine} read no credit", "credit not read"
            else:
                words += f" (the {self.machine} read nothing)"
        elif not self.read_matches and self.read is not None:
            words += f"; BUT the machine read {self.read.describe()}"
            group = "machine read another event"
        elif self.truth is not None and self.truth.fake and self.accepted:
            words = f"ACCEPTED A {self.truth.category.upper()}: {words}"
        return words, group

    def _why(self) -> tuple[str, str]:
        o = self.outcome
        if o is None:
            return "the engine never reported this coin", "never reported"
        d = o.decision
        event = o.event
        code = event.code if isinstance(event, ErrorEvent) else None
        if isinstance(event, CreditEvent):
            truth = self.truth
            if truth is not None and truth.category == "genuine" and d and d.coin != truth.kind:
                label = coin_label(d.coin or "?")
                real = coin_label(truth.kind)
                return f"accepted as a {label}, but it was a {real}", "credited as another coin"
            return "accepted", "accepted"
        if code in _TAKEN_IN_ERRORS:
            return _mishap(code, o.why)
        if d is None:
            if "shutting down" in o.why:
                return "returned: the run was stopping", "run stopping"
            return f"not decided: {o.why}", "not decided"
        if code == AcceptorError.VALIDATION_TIMEOUT:
            return f"returned: {o.why}", "decided too late"
        if d.accepted:  # the engine would take it, the acceptor may not
            return _host_refusal(o.why, self.machine)
        if d.reason == "inhibited":
            return _inhibited(d.coin or "?", d.detail or "")
        if d.reason in ("counterfeit", "unknown"):
            return self._not_recognised(d.reason, d.detail or "")
        return f"{d.reason}: {d.detail or o.why}", d.reason

    def _not_recognised(self, reason: str, detail: str) -> tuple[str, str]:
        truth = self.truth
        if (
            reason == "unknown"
            and truth is not None
            and truth.category == "genuine"
            and self.taught
            and truth.kind not in self.taught
        ):
            label = coin_label(truth.kind)
            return f"unknown: the {label} is not one of the coins taught", f"{label} not taught"
        # A genuine coin refused is grouped by what the engine took it for.
        group = "taken for a counterfeit" if reason == "counterfeit" else "unknown"
        return f"{reason}: {_explain(detail)}", group


def _explain(detail: str) -> str:
    """The engine's "nearest gb-100-2017: lo_ring 5.1 widths low; ..." in plain words."""
    match = _NEAREST.match(detail)
    if match is None:
        return detail or "no details"
    label = coin_label(match["coin"])
    rest = match["rest"]
    edges = _EDGES.match(rest)
    if edges is not None:
        return f"{edges['got']} edges on the rim, the {label} has {edges['need']}"
    if rest.startswith("not milled on alternate sides"):
        return f"not milled on alternate sides like the {label}"
    if rest.endswith(" not measurable"):
        names = rest.removesuffix(" not measurable").split(", ")
        return f"{' and '.join(_FEATURE_WORDS.get(n, n) for n in names)} not measurable"
    parts: list[str] = []
    for piece in rest.split("; "):
        off = _FEATURE_OFF.match(piece)
        if off is None:
            return f"{rest} (nearest the {label})"
        text = f"{_FEATURE_WORDS.get(off['name'], off['name'])} too {off['way']}"
        if text not in parts:
            parts.append(text)
    return f"{' and '.join(parts)} for a {label}"


def _inhibited(coin_id: str, detail: str) -> tuple[str, str]:
    label = coin_label(coin_id)
    if "not legal tender since" in detail:
        since = _date(coin_id, until=True)
        return (
            f"inhibited: the {label} is no longer legal tender (since {since})",
            f"{label} no longer legal tender",
        )
    if "legal tender only from" in detail:
        return (
            f"inhibited: the {label} is legal tender only from {_date(coin_id, until=False)}",
            f"{label} not yet legal tender",
        )
    if "override" in detail:
        return f"inhibited: the operator refuses the {label}", "refused by the operator"
    if "operator" in detail:
        return f"inhibited: the operator switched the {label} off", "switched off by the operator"
    return f"inhibited: {detail or 'no details'}", "inhibited"


def _host_refusal(why: str, machine: str = "parking machine") -> tuple[str, str]:
    # The money path's refusal words (ccTalk's headers, or MDB's commands).
    if "229" in why or "not polling" in why:
        return f"returned: the {machine} was not polling", "machine not polling"
    if "228" in why or "no coin type enabled" in why:
        return f"returned: the {machine} had switched the acceptor off", "master inhibit"
    if "231" in why or "disabled by the VMC" in why:
        return f"returned: the {machine} has this coin switched off", "coin off in machine"
    return f"returned: {why}", "returned"


def _mishap(code: int, why: str) -> tuple[str, str]:
    if code == AcceptorError.COIN_ON_STRING:
        return "not credited: pulled back on a string after the credit sensor", "on a string"
    if code == AcceptorError.COIN_GOING_BACKWARDS:
        return "not credited: it went back up past the credit sensor", "went backwards"
    if "restarted" in why:
        return "not credited: the sensor board restarted", "board restarted"
    return "not credited: stuck, the credit sensor never saw it", "stuck"


# ------------------------------------------------------------------ format


def _line_style(line: CoinLine) -> str:
    truth = line.truth
    if not line.read_matches or (truth is not None and truth.fake and line.accepted):
        return "bold red"  # the money is wrong
    if line.why()[1] == "credited as another coin":
        return "bold red"
    if line.credited:
        return "green"
    if truth is not None and truth.fake:
        return "dim"  # a fake refused: what should happen, kept quiet
    return "yellow"  # a genuine coin not credited: worth a look


def format_line(line: CoinLine) -> Text:
    """The line's text (``.plain`` for no colour)."""
    truth = line.truth.describe() if line.truth is not None else "?"
    words, _ = line.why()
    text = Text()
    text.append(f"{line.number:>{_NUMBER_W}}  ", style="dim")
    fake = line.truth is not None and line.truth.fake
    text.append(f"{truth:<{_TRUTH_W}}  ", style="magenta" if fake else "")
    text.append(f"{line.engine_column():<{_ENGINE_W}}  ", style=_line_style(line))
    credit = line.credit_column()
    text.append(f"{credit:<{_CREDIT_W}}  ", style="bold green" if line.credited else "")
    text.append(words, style=_line_style(line))
    return text


def _fakes_line(lines: Sequence[CoinLine]) -> str:
    fakes = [ln for ln in lines if ln.truth is not None and ln.truth.fake]
    counterfeits = sum(
        1 for ln in fakes if ln.truth is not None and ln.truth.category == "counterfeit"
    )
    accepted = [ln for ln in fakes if ln.accepted]
    text = (
        f"the simulator mixed in {len(fakes)} fakes and look-alikes "
        f"({counterfeits} counterfeit, {len(fakes) - counterfeits} look-alike): "
        f"{len(fakes) - len(accepted)} refused, {len(accepted)} accepted"
    )
    if accepted:
        text += " (" + ", ".join(f"#{ln.number}" for ln in accepted) + ")"
    return text


def summary_lines(lines: Sequence[CoinLine]) -> list[str]:
    """The end-of-run summary of the coins' lines (the money check is the caller's).

    Lines in this order: all coins; the fakes and look-alikes; the genuine
    coins, then one ``N x why`` line per reason genuine coins were not
    credited (most frequent first); genuine coins credited as another coin;
    coins the head has no record of.
    """
    genuine = [ln for ln in lines if ln.truth is not None and not ln.truth.fake]
    credited = [ln for ln in genuine if ln.credited]
    out = [
        f"{len(lines)} coins: {sum(ln.accepted for ln in lines)} accepted, "
        f"{sum(not ln.accepted for ln in lines)} refused, "
        f"{sum(ln.credited for ln in lines)} credited "
        f"({_pounds(sum(ln.credited_pence for ln in lines))})",
        _fakes_line(lines),
        f"{len(genuine)} genuine coins: {len(credited)} accepted and credited, "
        f"{len(genuine) - len(credited)} not credited"
        + (", because:" if len(credited) < len(genuine) else ""),
    ]
    why = Counter(ln.why()[1] for ln in genuine if not ln.credited)
    out += [f"  {n:>3} x {group}" for group, n in why.most_common()]
    # Credited, but as another coin: the money is then wrong, so it is said.
    mistaken = [ln for ln in credited if ln.why()[1] == "credited as another coin"]
    if mistaken:
        numbers = ", ".join(f"#{ln.number}" for ln in mistaken)
        out.append(f"{len(mistaken)} genuine coins credited as another coin ({numbers})")
    unknown = sum(1 for ln in lines if ln.truth is None)
    if unknown:
        out.append(f"{unknown} coins the simulated head has no record of")
    return out


# ------------------------------------------------------------------ display


class RunDisplay:
    """Joins what the head, the engine and the parking machine say, and prints it.

    Thread-safe: the engine's loop, the parking machine's poller and the run's
    own thread call it.

    Parameters
    ----------
    out : TextIO
        Where to print (stdout).
    truth : callable
        ``truth(coin_seq)``: what the coin of that sensor-link number really
        was, or None if the head has no record of it.
    taught : sequence of str
        The profile's coins (a genuine coin outside them is "not taught").
    colour : bool, optional
        Default: :func:`use_colour` of ``out``.
    every : int
        A running total after every this many coins.
    read_grace_s : float
        How long a decided coin's line waits for the parking machine's read.
    clock : callable
        Monotonic seconds.
    machine : str
        What the machine is, in words (``"vending machine"``).
    told : callable, optional
        ``told(event)``: the event the machine reads for an outcome's event,
        or None when it is told nothing; default: the event itself.
    """

    def __init__(
        self,
        out: TextIO,
        truth: Callable[[int], Truth | None],
        taught: Sequence[str],
        *,
        colour: bool | None = None,
        every: int = 10,
        read_grace_s: float = 3.0,
        clock: Callable[[], float] = time.monotonic,
        machine: str = "parking machine",
        told: Callable[[BufferedEvent], BufferedEvent | None] | None = None,
    ) -> None:
        colour = use_colour(out) if colour is None else colour
        # soft_wrap: a line is never folded at 80 columns when piped, nor cut in a
        # narrow terminal; color_system None writes no escape codes at all.
        self._console = Console(
            file=out,
            color_system="auto" if colour else None,
            force_terminal=colour,
            soft_wrap=True,
            highlight=False,
            markup=False,
            emoji=False,
        )
        self._truth = truth
        self._taught = frozenset(taught)
        self.every = every
        self.read_grace_s = read_grace_s
        self._clock = clock
        self.machine = machine
        self._told = told or (lambda event: event)
        self._lock = threading.Lock()
        self._outcomes: list[tuple[CoinOutcome, Truth | None, float]] = []
        # Per outcome, the index of the read that answers it (None: told nothing),
        # and per read, its outcome.
        self._read_index: list[int | None] = []
        self._outcome_of_read: list[int] = []
        self._reads: list[HostEvent] = []
        self._printed = 0  # outcomes whose line is out
        self._follow_up: set[int] = set()  # printed without their read
        self.lines: list[CoinLine] = []

    # ------------------------------------------------------------ printing

    def note(self, text: str, style: str = "") -> None:
        """A line that is not about one coin (the header, a notice)."""
        with self._lock:
            self._console.print(Text(text, style=style))

    def legend(self) -> None:
        """The columns explained, and their header."""
        with self._lock:
            legend = LEGEND.replace("{every}", str(self.every))
            self._console.print(Text(legend.replace("parking machine", self.machine), style="dim"))
            self._console.print()
            self._console.print(Text(HEADER, style="bold"))

    # -------------------------------------------------------------- events

    def decided(self, outcome: CoinOutcome) -> None:
        """The engine reported a coin (its event went into the credit buffer)."""
        truth = self._truth(outcome.coin_seq)
        with self._lock:
            if self._told(outcome.event) is None:
                self._read_index.append(None)
            else:
                self._read_index.append(len(self._outcome_of_read))
                self._outcome_of_read.append(len(self._outcomes))
            self._outcomes.append((outcome, truth, self._clock()))
            self._release(final=False)

    def read(self, event: HostEvent) -> None:
        """The parking machine read an event (its power-up marker is not a coin)."""
        if event.marker:
            return
        with self._lock:
            self._reads.append(event)
            r = len(self._reads) - 1
            k = self._outcome_of_read[r] if r < len(self._outcome_of_read) else -1
            if k in self._follow_up:
                self._follow_up.discard(k)
                line = self._line(k)
                self.lines[k] = line
                self._console.print(
                    Text(
                        f"{line.number:>{_NUMBER_W}}  read late by the {self.machine}: "
                        f"{line.credit_column()} ({event.describe()})",
                        style=_line_style(line),
                    )
                )
            self._release(final=False)

    @property
    def unread(self) -> int:
        """Outcomes whose event the machine is to read and has not read yet."""
        with self._lock:
            return len(self._outcome_of_read) - len(self._reads)

    def tick(self) -> None:
        """Print lines whose read is overdue (the run's loop calls this now and then)."""
        with self._lock:
            self._release(final=False)

    def finish(self, inserted: Sequence[Truth]) -> list[CoinLine]:
        """Print every line still held, and lines for coins the engine never reported.

        Parameters
        ----------
        inserted : sequence of Truth
            Every coin the head inserted.
        """
        with self._lock:
            self._release(final=True)
            seen = {ln.truth.index for ln in self.lines if ln.truth is not None}
            for truth in inserted:
                if truth.index not in seen:
                    self._emit(
                        CoinLine(len(self.lines) + 1, truth, None, None, self._taught, self.machine)
                    )
            return list(self.lines)

    def summary(self, money: Sequence[tuple[str, bool]]) -> None:
        """The summary of the lines printed, then the money check lines (text, ok)."""
        with self._lock:
            self._console.print()
            for i, text in enumerate(summary_lines(self.lines)):
                self._console.print(Text(text, style="bold" if i == 0 else ""))
            for text, ok in money:
                self._console.print(Text(text, style="bold green" if ok else "bold red"))

    # ------------------------------------------------------------ internal

    def _line(self, k: int) -> CoinLine:
        outcome, truth, since = self._outcomes[k]
        if truth is None:
            # The head records a coin just after sending its signature: a quick
            # refusal can be reported first.  By its read the record is there.
            truth = self._truth(outcome.coin_seq)
            self._outcomes[k] = (outcome, truth, since)
        r = self._read_index[k]
        read = self._reads[r] if r is not None and r < len(self._reads) else None
        return CoinLine(
            k + 1,
            truth,
            outcome,
            read,
            self._taught,
            self.machine,
            expected=self._told(outcome.event),
            silent=r is None,
        )

    def _release(self, *, final: bool) -> None:
        """Print, in order, every line whose read came (or is overdue) (lock held)."""
        now = self._clock()
        while self._printed < len(self._outcomes):
            k = self._printed
            r = self._read_index[k]
            if r is not None and r >= len(self._reads):
                overdue = now - self._outcomes[k][2] > self.read_grace_s
                if not (final or overdue):
                    return
                if not final:
                    self._follow_up.add(k)
            self._emit(self._line(k))
            self._printed += 1

    def _emit(self, line: CoinLine) -> None:
        self.lines.append(line)
        self._console.print(format_line(line))
        n = len(self.lines)
        if self.every and n % self.every == 0:
            self._console.print(Text(self._running(), style="cyan"))

    def _running(self) -> str:
        lines = self.lines
        accepted = sum(ln.accepted for ln in lines)
        credited = sum(ln.credited_pence for ln in lines)
        return (
            f"{'':>{_NUMBER_W}}  -- {len(lines)} coins: {accepted} accepted, "
            f"{len(lines) - accepted} refused, {_pounds(credited)} credited --"
        )
