"""Load the day's raw exports as they are: orders (JSON lines, lines nested) and delivery events (CSV).

Arguments: ``day`` (YYYY-MM-DD) and, optionally, ``raw_dir`` (default: the workspace's data/raw).
"""

from pathlib import Path

import pyarrow.csv
import pyarrow.json


def run(job_input):
    args = job_input.get_arguments()
    day = args["day"]
    raw = Path(args.get("raw_dir") or job_input.get_job_directory().parents[1] / "data" / "raw")
    orders = pyarrow.json.read_json(raw / "orders" / f"orders-{day}.jsonl")
    job_input.ingest(orders, "stage_orders", mode="overwrite")
    events = pyarrow.csv.read_csv(raw / "deliveries" / f"delivery_events-{day}.csv")
    job_input.ingest(events, "stage_delivery_events", mode="overwrite")
