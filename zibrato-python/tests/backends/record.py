"""A Python backend that prints each series it receives as a JSON line. With
FAIL_FIRST=n its first n flushes raise; with FATAL_CONNECT=1 its connect() raises
zibrato.Fatal."""

import json
import os
import sys

import zibrato


class Record(zibrato.Backend):
    timer_values = 8

    def __init__(self, fail_first):
        self.fail_first = fail_first

    def connect(self):
        if os.environ.get("FATAL_CONNECT") == "1":
            raise zibrato.Fatal("bad credentials")
        print("connected", flush=True)

    def flush(self, window):
        if self.fail_first > 0:
            self.fail_first -= 1
            raise ConnectionError("the service is down")
        assert isinstance(window, zibrato.Window)
        for s in window.series:
            line = dict(s.data, level=s.level, kind=s.kind, name=s.name, source=s.source)
            line["measure_time"] = window.measure_time
            line["interval"] = window.interval
            line["percentiles"] = {str(q): v for q, v in s.data.get("percentiles", {}).items()}
            print(json.dumps(line), flush=True)


if __name__ == "__main__":
    sys.exit(Record(int(os.environ.get("FAIL_FIRST", "0"))).run())
