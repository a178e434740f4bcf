"""Model Markdown on its way to Slack, without I/O: split within limits without breaking a
code block or a word, made inert, converted to mrkdwn for response URLs, and released piece
by piece as it streams without ever publishing half a private value."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.routing.sensitive import SensitiveDetector
from bot.slack.markdown import MIN_PIECE, inert_markdown, open_fence, split_markdown
from bot.slack.mrkdwn import to_mrkdwn
from bot.slack.publication import Publication
from bot.slack.withholding import WITHHELD_MARK, withhold_text
from tests.test_untrusted_output import CONTROL_SEQUENCES, LIVE

DETECTOR = SensitiveDetector()
FENCE_LINE = re.compile(r"^ {0,3}(`{3,}|~{3,})")

words = st.text(alphabet="abcdefghij", min_size=1, max_size=12)
lines = st.lists(words, min_size=0, max_size=15).map(" ".join)
blocks = st.one_of(
    st.lists(lines, min_size=1, max_size=8).map("\n".join),  # a paragraph
    st.tuples(
        st.sampled_from(["```", "```python", "~~~", "````sh"]), st.lists(lines, max_size=40)
    ).map(lambda t: "\n".join([t[0], *t[1], re.sub("[a-z]", "", t[0])])),  # a code block
)
documents = st.lists(blocks, min_size=1, max_size=12).map("\n\n".join)


def _words(text: str) -> list[str]:
    """The words of a text, leaving out fence lines (splitting adds closers and openers)."""
    return [w for line in text.split("\n") if not FENCE_LINE.match(line) for w in line.split()]


@settings(max_examples=300, deadline=None)
@given(documents, st.integers(min_value=MIN_PIECE, max_value=1200))
def test_split_markdown_keeps_every_word_whole_and_every_piece_renders_alone(
    text: str, limit: int
) -> None:
    pieces = split_markdown(text, limit)
    assert all(len(p) <= limit for p in pieces)
    assert _words("\n".join(pieces)) == _words(text)  # nothing lost, no word cut
    for piece in pieces:
        assert open_fence(piece) is None, piece  # every piece closes what it opens


def test_a_split_code_block_is_reopened_with_its_language() -> None:
    code = "\n".join(f"x{i} = {i}" for i in range(400))
    text = f"Intro.\n\n```python\n{code}\n```\n\nAfter."
    pieces = split_markdown(text, 1000)
    assert len(pieces) > 3
    inner = next(p for p in pieces if "x200 = 200" in p)
    assert inner.startswith("```python\n")
    assert inner.endswith("\n```")
    assert pieces[-1].endswith("After.")


def test_a_word_longer_than_a_piece_is_the_only_thing_cut() -> None:
    text = "short words " + "x" * 1500 + " end"
    pieces = split_markdown(text, 500)
    assert all(len(p) <= 500 for p in pieces)
    assert "".join(pieces).replace(" ", "") == text.replace(" ", "")


@given(st.sampled_from(CONTROL_SEQUENCES), st.text(max_size=40))
def test_inert_markdown_lets_no_control_sequence_through(sequence: str, around: str) -> None:
    assert not LIVE.search(inert_markdown(f"{around}{sequence}{around}"))


def test_markdown_links_show_where_they_go() -> None:
    out = inert_markdown('Pay [your invoice](https://evil.example/pay "Invoice") now')
    assert "your invoice (https://evil.example/pay)" in out
    assert "](" not in out
    assert inert_markdown("[https://a.example](https://a.example)") == "https://a.example"
    # A reference definition would turn `[words]` anywhere into a hidden link: wherever it
    # stands (a quote, a list, a label over two lines, an escaped bracket) its `]:` is broken.
    for definition in (
        "[ref]: https://evil.example",
        "> [ref]: https://evil.example",
        "- [ref]: https://evil.example",
        "[re\nf]: https://evil.example",
        "[r\\]ef]: https://evil.example",
    ):
        assert "]:" not in inert_markdown(f"see [invoice][ref]\n{definition}")
    # Fenced code is not rewritten; only a joint in it gets a backslash (a renderer may not
    # agree that it is code).
    code = "```python\nx = [1, 2]\nif d[1] > 0:\n    f(x)\n```\n"
    assert inert_markdown(code) == code.replace(">", "&gt;")
    assert inert_markdown("```\nf[0](x)\n```\n") == "```\nf[0]\\(x)\n```\n"


def test_to_mrkdwn_renders_what_models_write() -> None:
    md = (
        "# Plan\n\nSome **bold**, _italic_ and ~~old~~ `a<b` text, "
        "[the docs](https://docs.example) and <!channel>.\n\n"
        "- one\n- two\n  1. nested\n\n```python\nif a < b:\n    pass\n```\n\n> quoted\n\n"
        "| a | b |\n|---|---|\n| 1 | 2 |"
    )
    out = to_mrkdwn(md)
    assert out.startswith("*Plan*")
    assert "*bold*" in out
    assert "_italic_" in out
    assert "~old~" in out
    assert "`a&lt;b`" in out
    assert "the docs (https://docs.example)" in out
    assert "• one\n• two\n    1. nested" in out
    assert "```\nif a &lt; b:\n    pass\n```" in out
    assert "> quoted" in out
    assert "```\na | b\n1 | 2\n```" in out
    assert not LIVE.search(out)


@given(st.text(max_size=300))
def test_to_mrkdwn_never_lets_a_control_sequence_through(text: str) -> None:
    for sequence in CONTROL_SEQUENCES[:3]:
        assert not LIVE.search(to_mrkdwn(text + sequence))


CARD = "4539 1488 0343 6467"
SECRET_VALUES = (CARD.replace(" ", ""),)


def _release_in_pieces(
    text: str, cuts: list[int], categories: frozenset[str], values: tuple[str, ...]
) -> str:
    publication = Publication(DETECTOR, categories, values)
    out, start = [], 0
    for cut in sorted(set(cuts)):
        publication.feed(text[start:cut])
        out.append(publication.release())
        start = cut
    publication.feed(text[start:])
    out.append(publication.release(final=True))
    return "".join(out)


long_lines = st.lists(words, min_size=30, max_size=90).map(" ".join)
answer_texts = st.lists(
    st.one_of(
        lines,
        long_lines,  # released at spaces, not at line ends
        st.just(f"the card {CARD} again"),
        st.just("the card 4539\n1488 0343\n6467 across lines"),
        long_lines.map(lambda line: f"{line} {CARD} {line}"),
        st.just("[a link](https://x.example)"),
    ),
    min_size=1,
    max_size=30,
).map("\n".join)


@settings(max_examples=200, deadline=None)
@given(answer_texts, st.lists(st.integers(min_value=0, max_value=3000), max_size=40))
def test_a_streamed_answer_never_publishes_a_withheld_value_however_it_is_cut(
    text: str, cuts: list[int]
) -> None:
    streamed = _release_in_pieces(text, cuts, frozenset({"credit_card"}), SECRET_VALUES)
    digits = re.sub(r"\D", "", streamed)
    assert "4539148803436467" not in digits
    assert "6467" not in re.sub(r"\s", "", streamed.replace(WITHHELD_MARK, "|"))
    # The same words as publishing the whole answer at once (a value cut by a release
    # boundary is withheld on both sides of it: two marks instead of one).
    whole = inert_markdown(withhold_text(DETECTOR, text, {"credit_card"}, SECRET_VALUES))
    marks = re.compile(r"(?:\[withheld\]\s*)+")
    assert marks.sub("[withheld] ", streamed).split() == marks.sub("[withheld] ", whole).split()


@settings(max_examples=100, deadline=None)
@given(answer_texts, st.lists(st.integers(min_value=0, max_value=3000), max_size=40))
def test_streaming_without_anything_to_withhold_publishes_exactly_the_inert_text(
    text: str, cuts: list[int]
) -> None:
    assert _release_in_pieces(text, cuts, frozenset(), ()) == inert_markdown(text)


link_pieces = st.lists(
    st.sampled_from(
        [
            "[",
            "]",
            "(",
            ")",
            ":",
            " ",
            "\n",
            "> ",
            "- ",
            "`",
            "\\",
            "!",
            "<",
            ">",
            '"',
            "*",
            "invoice",
            "https://evil.example/pay",
            "ref",
            "```",
            "    ",
        ]
    ),
    max_size=40,
).map("".join)


labels = st.sampled_from(["ref", "Ref", "re\nf", "r\\]ef", "invoice"])
references = st.tuples(
    st.sampled_from(["", "> ", "- ", "1. ", "   ", "> - "]),  # where the definition stands
    labels,
    st.sampled_from(["[invoice][{l}]", "[{l}]", "[{l}][]", "![img][{l}]"]),  # its use
    link_pieces,
).map(lambda t: f"{t[2].format(l=t[1])} {t[3]}\n\n{t[0]}[{t[1]}]: https://evil.example/pay")


# Constructs where a sanitizer and CommonMark may disagree about what is code (found by
# review): a fence in a list item, an escaped backtick, a fence longer than most, a fence
# line too long to arrive whole.
tricky = st.sampled_from(
    [
        "- ```\n  code\n  ```\n",
        "\\`",
        "`" * 34 + "\n~~~\n" + "`" * 34 + "\n",
        "```x " + "y " * 200 + "`\n",
        "    indented [w](https://evil.example)\n",
        "> ```\n> q\n",
    ]
)
hidden_link = st.just("[your invoice](https://evil.example/pay)")
documents_with_links = st.lists(
    st.one_of(link_pieces, references, tricky, hidden_link), max_size=6
).map("".join)


@settings(max_examples=600, deadline=None)
@given(documents_with_links, st.lists(st.integers(min_value=0, max_value=1500), max_size=8))
def test_no_markdown_a_model_writes_renders_a_link_whose_words_hide_its_address(
    text: str, cuts: list[int]
) -> None:
    """Rendered by a CommonMark parser (markdown-it-py, as Slack renders Markdown), what
    hearthbot sends, in pieces cut anywhere, forms no link whose words are not its address."""
    from markdown_it import MarkdownIt

    from bot.slack.markdown import MarkdownSanitizer

    sanitizer, start, sent = MarkdownSanitizer(), 0, []
    for cut in sorted(set(cuts)):
        sent.append(sanitizer.feed(text[start:cut]))
        start = max(start, cut)
    sent.append(sanitizer.feed(text[start:]))
    tokens = MarkdownIt("commonmark").parse("".join(sent))
    for block in tokens:
        children = block.children or []
        for i, token in enumerate(children):
            if token.type == "link_open":
                words = "".join(c.content for c in children[i + 1 :] if c.type == "text")
                assert str(token.attrGet("href")) in words, (text, "".join(sent))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(st.sampled_from(CONTROL_SEQUENCES), st.just(CARD), st.text(max_size=20)),
        max_size=8,
    ).map(" ".join)
)
def test_withholding_never_brings_an_escaped_control_sequence_back_to_life(text: str) -> None:
    from bot.slack.mrkdwn import to_mrkdwn

    for published in (inert_markdown(text), to_mrkdwn(text)):
        withheld = withhold_text(DETECTOR, published, {"credit_card"}, SECRET_VALUES)
        assert not LIVE.search(withheld)
        assert "1488" not in withheld


def test_an_answers_first_words_leave_before_its_first_line_ends() -> None:
    publication = Publication(DETECTOR)
    publication.feed("Paris")
    assert publication.release() == ""  # the word may still be growing
    publication.feed(" is the")
    assert publication.release() == "Paris is "
    publication.feed(" capital of")
    assert publication.release() == ""  # the rest of the line waits for its end
    publication.feed(" France.\nIt")
    assert publication.release() == "the capital of France.\n"
    assert publication.release(final=True) == "It"


def test_when_something_is_withheld_even_the_first_words_wait_for_the_hold() -> None:
    publication = Publication(DETECTOR, frozenset({"credit_card"}), SECRET_VALUES)
    publication.feed("Paris is the capital of France")
    assert publication.release() == ""
