"""Keep the day's stock as a periodic snapshot, and every change of reorder status as a version."""


def run(job_input):
    job_input.execute_template("periodic_snapshot", {
        "source_view": "stage_stock_day",
        "target_table": "stock_daily",
        "last_arrival_ts": "snapshot_date",
    })  # fmt: skip
    job_input.execute_template("scd2", {
        "source_view": "stage_reorder_status",
        "target_table": "reorder_status_history",
        "id_column": "stock_key",
        "value_columns": ["branch_id", "ingredient_id", "status", "days_of_cover"],
        "tracked_columns": ["status"],
    })  # fmt: skip
