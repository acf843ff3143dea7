"""Background worker: counts ticks into the shared volume."""
import os
import time

DATA_DIR = os.environ.get("DATA_DIR", "/data")
TICKS = os.path.join(DATA_DIR, "ticks")
interval = float(os.environ.get("INTERVAL", "2"))
os.makedirs(DATA_DIR, exist_ok=True)
ticks = 0
while True:
    ticks += 1
    with open(TICKS + ".tmp", "w") as f:
        f.write(str(ticks))
    os.replace(TICKS + ".tmp", TICKS)
    print(f"tick {ticks}", flush=True)
    time.sleep(interval)
