#!/usr/bin/env python3
"""Golden output of the seed chapter's listings (/work/shared/seed/asyncio-basics.md), made by CPython.

Run from anywhere with `python3 scripts/seed_golden.py` (stdlib only; written against Python 3.11). Each
listing below is copied from the chapter; `examples/seed_NN_subject.rs` is its ferrio twin. The script writes
every listing and the shared `util.py` into a fresh temporary directory, runs each listing there with this
interpreter (`python3 seed_NN_subject.py`, one at a time so the timings do not disturb each other) and writes

- `tests/golden/seed_NN_subject.txt`: the listing's stdout, byte for byte (stderr, where listing 2's
  "coroutine ... was never awaited" warning goes, is not recorded);
- `tests/golden/seed_NN_subject.time`: the listing's wall time in seconds (`3.004`), interpreter start-up
  included, measured around the subprocess.

Changes to the listings, each marked in the source by a one-line `# fix:` or `# added:` comment:
- fixes of the seed's bugs: the f-string of `delay` closes before `second(s)` (a SyntaxError), and
  `async_timed`'s `return wrapped` sits inside `wrapped`, so the decorator would return None;
- added drivers: three listings only define things (`my_coroutine`, `main` with `add_one`, the `async_timed`
  decorator), so they would print nothing; each gets the smallest driver that runs what it defines (for
  `async_timed`, the usage of the book's next listing: `main` and two `delay` calls, timed).
- The `delay` listing is not an example of its own: it becomes `util.py` here and `examples/seed_common`
  on the Rust side, imported by the listings that say `from util import delay`.

Normalisations. The golden files hold CPython's raw stdout; `tests/seed_examples.rs` compares them with the
Rust examples' stdout after applying these rewrites, in this order, to both sides, and nothing else:
1. addresses: every `0x` followed by hex digits becomes `0x?` (`<function delay at 0x7f..>`);
2. type names: each Python repr or type name below and its Rust counterpart (what the example prints:
   `std::any::type_name`, with `{:p}` where Python shows an address) become the same placeholder:
     `<coroutine object coroutine_add_one at 0x?>` | `seed_02_coroutine_vs_function::coroutine_add_one::{{closure}} at 0x?` -> `<coroutine_add_one(1)>`
     `<class 'coroutine'>` | `seed_02_coroutine_vs_function::coroutine_add_one::{{closure}}` -> `<coroutine type>`
     `<class 'int'>`       | `i64`                                     -> `<int type>`
     `<class '_asyncio.Task'>` | `ferrio::task::join::Task<u64>`       -> `<Task type>`
     `<function delay at 0x?>` | `seed_15_async_timed::seed_common::delay` -> `<function delay>`
     `<function main at 0x?>`  | `seed_15_async_timed::async_main`     -> `<function main>`
3. elapsed times: a word (split at single spaces) that is a decimal number with a fraction (`3.0012`,
   `1.0010917186737061`) and is followed by the word `second(s)` or `seconds` becomes `<elapsed>` (whole
   numbers, the listings' own figures as in `sleeping for 3 second(s)`, stay).
The wall times are compared as numbers: an example must finish within 0.3 s of the listing's `.time`.
"""

import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GOLDEN = os.path.join(ROOT, "tests", "golden")

# The seed's "A reusable `delay` function", shared by the listings as `util.delay`.
UTIL = """\
import asyncio

async def delay(delay_seconds: int) -> int:
    print(f'sleeping for {delay_seconds} second(s)')
    await asyncio.sleep(delay_seconds)
    # fix: the seed closes the f-string before `second(s)`, a SyntaxError
    print(f'finished sleeping for {delay_seconds} second(s)')
    return delay_seconds
"""

LISTINGS = [
    (
        "seed_01_hello_coroutine",
        """\
import asyncio  # added: for the driver below

async def my_coroutine() -> None:
    print('Hello World')

asyncio.run(my_coroutine())  # added: the listing only defines the coroutine
""",
    ),
    (
        "seed_02_coroutine_vs_function",
        """\
async def coroutine_add_one(number: int) -> int:
    return number + 1

def add_one(number: int) -> int:
    return number + 1

function_result = add_one(1)
coroutine_result = coroutine_add_one(1)

print(f'Function result is {function_result} and the type is {type(function_result)}')
print(f'Coroutine result is {coroutine_result} and the type is {type(coroutine_result)}')
""",
    ),
    (
        "seed_03_asyncio_run",
        """\
import asyncio

async def coroutine_add_one(number: int) -> int:
    return number + 1

result = asyncio.run(coroutine_add_one(1))
print(result)
""",
    ),
    (
        "seed_04_await",
        """\
import asyncio

async def add_one(number: int) -> int:
    return number + 1


async def main() -> None:
    one_plus_one = await add_one(1) # Pause, and wait for the result of add_one(1).
    two_plus_one = await add_one(2) # Pause, and wait for the result of add_one(2).

    print(one_plus_one)
    print(two_plus_one)

asyncio.run(main())  # added: the listing only defines main
""",
    ),
    (
        "seed_05_sleep",
        """\
import asyncio

async def hello_god_message() -> str:
    await asyncio.sleep(1) # Pause hello_god_message for 1 second.
    return 'Hello God!'

async def main() -> None:
    message = await hello_god_message() # Pause main until hello_god_message finishes.
    print(message)

asyncio.run(main())
""",
    ),
    (
        "seed_06_create_task",
        """\
import asyncio
from util import delay

async def main():
    sleep_for_three = asyncio.create_task(delay(3))
    print(type(sleep_for_three))
    result = await sleep_for_three
    print(result)

asyncio.run(main())
""",
    ),
    (
        "seed_07_concurrent_tasks",
        """\
import asyncio
from util import delay

async def main():
    sleep_for_three = asyncio.create_task(delay(3))
    sleep_again = asyncio.create_task(delay(3))
    sleep_once_more = asyncio.create_task(delay(3))

    await sleep_for_three
    await sleep_again
    await sleep_once_more

asyncio.run(main())
""",
    ),
    (
        "seed_08_hello_every_second",
        """\
import asyncio
from util import delay

async def hello_every_second():
    for i in range(2):
        await asyncio.sleep(1)
        print("I'm running other code while I'm waiting!")

async def main():
    first_delay = asyncio.create_task(delay(3))
    second_delay = asyncio.create_task(delay(3))

    await hello_every_second()
    await first_delay
    await second_delay

asyncio.run(main())
""",
    ),
    (
        "seed_09_cancel",
        """\
import asyncio
from asyncio import CancelledError
from util import delay

async def main():
    long_task = asyncio.create_task(delay(10))
    seconds_elapsed = 0

    while not long_task.done():
        print('Task not finished, checking again in a second.')
        await asyncio.sleep(1)
        seconds_elapsed = seconds_elapsed + 1
        if seconds_elapsed == 5:
            long_task.cancel()

    try:
        await long_task
    except CancelledError:
        print('Our task was cancelled')

asyncio.run(main())
""",
    ),
    (
        "seed_10_wait_for",
        """\
import asyncio
from util import delay

async def main():
    delay_task = asyncio.create_task(delay(2))
    try:
        result = await asyncio.wait_for(delay_task, timeout=1)
        print(result)
    except asyncio.exceptions.TimeoutError:
        print('Got a timeout')
        print(f'Was the task cancelled? {delay_task.cancelled()}')

asyncio.run(main())
""",
    ),
    (
        "seed_11_shield",
        """\
import asyncio
from util import delay

async def main():
    task = asyncio.create_task(delay(10))

    try:
        result = await asyncio.wait_for(asyncio.shield(task), 5)
        print(result)
    except asyncio.exceptions.TimeoutError:
        print("Task took longer than five seconds, it will finish soon!")
        result = await task
        print(result)

asyncio.run(main())
""",
    ),
    (
        "seed_12_future",
        """\
from asyncio import Future

my_future = Future()

print(f'Is my_future done? {my_future.done()}')
my_future.set_result(42)

print(f'Is my_future done? {my_future.done()}')
print(f'What is the result of my_future? {my_future.result()}')
""",
    ),
    (
        "seed_13_await_future",
        """\
from asyncio import Future
import asyncio

async def set_future_value(future) -> None:
    await asyncio.sleep(1) # Wait 1 second before setting the value of the future
    future.set_result(42)

def make_request() -> Future:
    future = Future()
    asyncio.create_task(set_future_value(future)) # Create a task to asynchronously set the value of the future.
    return future

async def main():
    future = make_request()
    print(f'Is the future done? {future.done()}')
    value = await future
    print(f'Is the future done? {future.done()}')
    print(value)

asyncio.run(main())
""",
    ),
    (
        "seed_14_measure_sleep",
        """\
import asyncio
import time

async def main():
    start = time.time()
    await asyncio.sleep(1)
    end = time.time()
    print(f'Sleeping took {end - start} seconds')

asyncio.run(main())
""",
    ),
    (
        "seed_15_async_timed",
        """\
import functools
import time
from typing import Callable, Any

def async_timed():
    def wrapper(func: Callable) -> Callable:
        @functools.wraps(func)
        async def wrapped(*args, **kwargs) -> Any:
            print(f'starting {func} with args {args} {kwargs}')
            start = time.time()
            try:
                return await func(*args, **kwargs)
            finally:
                end = time.time()
                total = end - start
                print(f'finished {func} in {total:.4f} second(s)')
        return wrapped  # fix: the seed returns `wrapped` from inside `wrapped`, so `wrapper` returned None
    return wrapper

# added: the listing only defines the decorator; use it as the book's next listing does
import asyncio
import util

delay = async_timed()(util.delay)

@async_timed()
async def main():
    task_one = asyncio.create_task(delay(2))
    task_two = asyncio.create_task(delay(3))
    await task_one
    await task_two

asyncio.run(main())
""",
    ),
]


def main() -> int:
    wanted = set(sys.argv[1:])
    unknown = wanted - {name for name, _ in LISTINGS}
    if unknown:
        print(f"unknown listing(s): {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    os.makedirs(GOLDEN, exist_ok=True)
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", PYTHONIOENCODING="utf-8")
    with tempfile.TemporaryDirectory(prefix="seed_golden_") as tmp:
        with open(os.path.join(tmp, "util.py"), "w") as f:
            f.write(UTIL)
        for name, source in LISTINGS:
            if wanted and name not in wanted:
                continue
            path = os.path.join(tmp, name + ".py")
            with open(path, "w") as f:
                f.write(source)
            start = time.monotonic()
            done = subprocess.run(
                [sys.executable, path], cwd=tmp, env=env, capture_output=True, timeout=60
            )
            wall = time.monotonic() - start
            if done.returncode != 0:
                sys.stderr.write(done.stderr.decode(errors="replace"))
                print(f"{name}: exit status {done.returncode}", file=sys.stderr)
                return 1
            with open(os.path.join(GOLDEN, name + ".txt"), "wb") as f:
                f.write(done.stdout)
            with open(os.path.join(GOLDEN, name + ".time"), "w") as f:
                f.write(f"{wall:.3f}\n")
            print(f"{name}: {wall:.3f} s, {len(done.stdout.splitlines())} line(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
