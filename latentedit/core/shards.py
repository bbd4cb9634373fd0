"""Shards: a job of ``total`` rows split into ``count`` parts that can run anywhere and be merged back.

A part owns a contiguous range of rows. Rows are handed out in blocks of ``granularity`` (a scoring job's batch
size): a part then processes exactly the batches the whole job would, so that its numbers are bit-identical to the
same rows of one unsharded run, whatever batch effects the networks have.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Shard:
    """Part ``index`` (0-based) of ``count``."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError(f"count must be 1 or more, got {self.count}")
        if not 0 <= self.index < self.count:
            raise ValueError(f"index must be in 0..{self.count - 1} for {self.count} parts, got {self.index}")

    @classmethod
    def parse(cls, text: str) -> "Shard":
        """``"K/N"``: part K (0-based) of N."""
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
        if not match:
            raise ValueError(f"text must read K/N (part K of N, counted from 0), got {text!r}")
        return cls(int(match.group(1)), int(match.group(2)))

    @property
    def name(self) -> str:
        """The part's folder name, ``part-0000K-of-0000N``."""
        return f"part-{self.index:05d}-of-{self.count:05d}"

    def rows(self, *, total: int, granularity: int = 1) -> range:
        """This part's rows of a ``total``-row job cut into blocks of ``granularity`` rows: blocks
        ``[K*B/N, (K+1)*B/N)`` of the job's ``B`` blocks (with ``granularity`` 1, rows ``[K*T/N, (K+1)*T/N)``)."""
        if total < 1:
            raise ValueError(f"total must be 1 or more, got {total}")
        if granularity < 1:
            raise ValueError(f"granularity must be 1 or more, got {granularity}")
        blocks = -(-total // granularity)
        if self.count > blocks:
            raise ValueError(
                f"count: {self.count} parts of a job of {total} rows in blocks of {granularity} "
                f"would leave parts empty; use at most {blocks} parts"
            )
        first, last = self.index * blocks // self.count, (self.index + 1) * blocks // self.count
        return range(min(total, first * granularity), min(total, last * granularity))


def missing_or_repeated(indices: Sequence[int], *, count: int) -> tuple[list[int], list[int]]:
    """The part indices of ``0..count-1`` absent from ``indices``, and those present more than once."""
    seen = [0] * count
    for index in indices:
        if not 0 <= index < count:
            raise ValueError(f"indices: part {index} is not one of {count} parts")
        seen[index] += 1
    return [i for i, n in enumerate(seen) if n == 0], [i for i, n in enumerate(seen) if n > 1]
