"""Detection never scans again what it scanned already: memory and thread messages come back
on every turn of a conversation. Within a process the detector's cache answers (by
content); across processes (replicas, restarts) each memory entry carries its findings,
trusted only where memory is encrypted and bound to its conversation."""

from __future__ import annotations

import json
import threading

from cryptography.fernet import Fernet
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.messages import AIMessage, HumanMessage

from bot.cpu_work import INLINE_CHARS, cpu_work
from bot.memory import ConversationKey, MessageCodec
from bot.routing.sensitive import CustomPattern, DetectorConfig, SensitiveDetector
from bot.routing.sensitive.custom_patterns import compile_bounded
from bot.routing.sensitive.scan_cache import ScanCache, digest
from tests.conftest import AppFactory, RunningApp
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_requests import mention_event

KEY = Fernet.generate_key().decode()
CONVERSATION = ConversationKey("T0TEAM0001", "C0PUBLIC01", "1790000000.000100")
PLAIN = SensitiveDetector()


def cache_of(app: RunningApp) -> ScanCache:
    cache = app.services.classifier.detector.cache
    assert cache is not None
    return cache


async def converse(app: RunningApp, slack: FakeSlack, channel: str, questions: list[str]) -> str:
    """Ask `questions` in one thread (by mention), each once the previous is answered."""
    first = mention_event(questions[0], channel)
    thread = str(first["event"]["ts"])
    await app.sender.event(first)
    await slack.wait_for_posts(1)
    for i, question in enumerate(questions[1:], start=2):
        await app.sender.event(mention_event(question, channel, thread_ts=thread))
        await slack.wait_for_posts(i)
    return thread


async def test_a_turn_scans_only_its_new_text_however_long_the_conversation(
    make_app: AppFactory, slack: FakeSlack, public: str
) -> None:
    app = await make_app()
    cache = cache_of(app)
    root = "1790000000.000200"
    people = slack.start_thread(public, root, "the nightly deploy failed again", "U0BOB00002")
    people.append({"type": "message", "user": "U0CAROL003", "ts": "1790000000.000300",
                   "thread_ts": root, "text": "it was the disk on db-2, I think"})  # fmt: skip
    per_turn = []
    for i, question in enumerate(["what broke?", "how do we fix it?", "who should do it?"]):
        before = cache.misses
        await app.sender.event(mention_event(question, public, thread_ts=root))
        await slack.wait_for_posts(i + 1)
        per_turn.append(cache.misses - before)
    # Every turn sends the model the two people's messages and the memory again; after the
    # first, only the turn's question and answer are new to the detector.
    assert per_turn == [4, 2, 2]
    assert cache.misses == len(cache)  # nothing was scanned twice
    assert cache.hits >= 2 + 4


async def test_another_replica_does_not_scan_encrypted_memory_again(
    make_app: AppFactory, slack: FakeSlack, public: str
) -> None:
    first = await make_app(memory_encryption_key=KEY)
    thread = await converse(first, slack, public, ["what is redis?", "and valkey?"])
    second = await make_app(memory_encryption_key=KEY)  # same Redis, a fresh process
    await second.sender.event(mention_event("which one is faster?", public, thread_ts=thread))
    await slack.wait_for_posts(3)
    seen = cache_of(second)
    assert digest("which one is faster?") in seen
    # The first two turns' questions came back as memory, with their findings.
    assert digest("what is redis?") not in seen
    assert digest("and valkey?") not in seen


async def test_findings_stored_in_plaintext_are_not_trusted(
    make_app: AppFactory, slack: FakeSlack, public: str
) -> None:
    first = await make_app()
    thread = await converse(first, slack, public, ["what is redis?"])
    second = await make_app()
    await second.sender.event(mention_event("and valkey?", public, thread_ts=thread))
    await slack.wait_for_posts(2)
    # Anyone who can write to Redis could have written them: scanned again.
    assert digest("what is redis?") in cache_of(second)


def test_stored_findings_round_trip_only_when_authenticated_and_of_this_detector() -> None:
    turn = [HumanMessage("my card is 4539 1488 0343 6467"), AIMessage("noted")]
    found = [PLAIN.categories([m.text]) for m in turn]
    assert found == [frozenset({"credit_card"}), frozenset()]
    sealed = MessageCodec([KEY], scan_version="v1")
    entries = sealed.encode(turn, conversation=CONVERSATION, scanned=found)
    assert sealed.decode(entries, CONVERSATION).scanned == found
    # Another detector version (its code or its configuration changed): scan again.
    later = MessageCodec([KEY], scan_version="v2")
    assert later.decode(entries, CONVERSATION).scanned == [None, None]
    # Plaintext entries carry them too, but they are not trusted when read.
    plain = MessageCodec(scan_version="v1")
    plain_entries = plain.encode(turn, conversation=CONVERSATION, scanned=found)
    assert json.loads(plain_entries[0])["s"] == ["credit_card"]
    assert plain.decode(plain_entries, CONVERSATION).scanned == [None, None]


def test_a_forged_finding_in_a_plaintext_entry_changes_nothing() -> None:
    codec = MessageCodec(scan_version="v1")
    (entry,) = codec.encode([HumanMessage("card 4539 1488 0343 6467")], scanned=[frozenset()])
    assert codec.decode([entry], CONVERSATION).scanned == [None]


texts = st.lists(
    st.sampled_from(["", "hi", "card 4539 1488 0343 6467", "a@b.example"]) | st.text(max_size=60),
    max_size=8,
)


@settings(max_examples=200, deadline=None)
@given(st.lists(texts, min_size=1, max_size=5))
def test_the_cache_never_changes_what_is_found(batches: list[list[str]]) -> None:
    cached = SensitiveDetector(cache=ScanCache(max_entries=5))
    for batch in batches:
        assert cached.categories(batch) == PLAIN.categories(batch)


def test_the_cache_keeps_at_most_its_size_most_recent_first() -> None:
    cache = ScanCache(max_entries=2)
    for text in ("a", "b", "a", "c"):  # "a" used again before "c" arrives: "b" goes
        if cache.get(digest(text)) is None:
            cache.put(digest(text), ())
    assert len(cache) == 2
    assert digest("a") in cache
    assert digest("c") in cache
    assert digest("b") not in cache


async def test_short_work_stays_on_the_event_loop_and_long_work_leaves_it() -> None:
    loop_thread = threading.get_ident()
    assert await cpu_work(INLINE_CHARS, threading.get_ident) == loop_thread
    assert await cpu_work(INLINE_CHARS + 1, threading.get_ident) != loop_thread


SLOW = CustomPattern("project", compile_bounded(r"PRJ-(?:x+x+)+y", ignore_case=False))
SLOW_TEXT = "PRJ-" + "x" * 20_000  # the pattern runs out of time on it


def test_a_custom_pattern_out_of_time_counts_as_matching_but_is_not_remembered() -> None:
    detector = SensitiveDetector(DetectorConfig(custom=(SLOW,)), cache=ScanCache())
    assert "custom:project" in detector.categories([SLOW_TEXT])  # fail closed, this time
    assert digest(SLOW_TEXT) not in detector.cache  # type: ignore[operator]
    assert detector.remembered(SLOW_TEXT) is None  # nor stored with a memory entry
    # A text it finishes on is remembered as usual.
    assert detector.remembered("PRJ-xxy") == frozenset({"custom:project"})
    assert digest("PRJ-xxy") in detector.cache  # type: ignore[operator]


def test_scans_that_run_custom_patterns_never_run_on_the_event_loop() -> None:
    plain = SensitiveDetector(cache=ScanCache())
    custom = SensitiveDetector(DetectorConfig(custom=(SLOW,)), cache=ScanCache())
    assert plain.scan_work(["short"]) == 5 <= INLINE_CHARS
    assert custom.scan_work(["short"]) > INLINE_CHARS  # up to RUN_TIMEOUT_S, whatever its size
    custom.categories(["short"])
    assert custom.scan_work(["short"]) == 0  # cached: nothing left to run
    assert custom.scan_work(["short"], cached=False) > INLINE_CHARS


def test_withholding_runs_only_the_withheld_categories_finders() -> None:
    detector = SensitiveDetector(DetectorConfig(custom=(SLOW,)), cache=ScanCache())
    assert not detector.runs_custom_patterns({"credit_card"})
    assert detector.runs_custom_patterns({"custom:project"})
    # Looking for cards in the slow text does not run the slow pattern at all.
    assert detector.findings(SLOW_TEXT, only=frozenset({"credit_card"})) == []
    (finding,) = detector.findings("PRJ-xxy", only=frozenset({"custom:project"}))
    assert finding.category == "custom:project"
