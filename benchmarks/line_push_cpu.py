"""CPU per `LineApi.push` (the real linebot.v3 client) against the reminders benchmark's fake LINE API in
another process: `.venv/bin/python benchmarks/line_push_cpu.py [N]` (default 3,000 pushes, 50 in flight)."""
import asyncio
import multiprocessing
import sys
import time
import uuid
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.bench_reminders import _serve_fake, TOKEN
from bot.settings import Settings
from handlers.line.api import LineApi
from handlers.line.messages import to_line_messages
from bot.types import Reply, Choice

async def main(n):
    ctx = multiprocessing.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_serve_fake, args=(q,), daemon=True)
    p.start()
    port = q.get(timeout=20)
    s = Settings(line_channel_secret="x", line_channel_access_token=TOKEN, line_api_base_url=f"http://127.0.0.1:{port}")
    api = LineApi(s)
    msgs = to_line_messages([Reply(text="今日はどうでしたか？ 少し振り返ってみましょう。", message_id="m",
        choices=(Choice("できた", "nudge:x:done"), Choice("あとで", "nudge:x:later"), Choice("話す", "nudge:x:talk:f")))])
    sem = asyncio.Semaphore(50)
    async def one():
        async with sem:
            await api.push("U"+uuid.uuid4().hex, msgs, retry_key=str(uuid.uuid4()))
    await asyncio.gather(*(one() for _ in range(200)))
    c0, t0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(one() for _ in range(n)))
    c, t = time.process_time()-c0, time.perf_counter()-t0
    print(f"{n} pushes: {t:.2f}s wall, {c/n*1e3:.3f} ms CPU/push, {n/t:.0f}/s")
    await api.close()
    p.kill()
if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv)>1 else 3000))
