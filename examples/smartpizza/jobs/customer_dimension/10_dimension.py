"""Merge the customer changes copied from the operational database into the SCD2 customer dimension."""

VALUES = ["first_name", "last_name", "email", "phone", "street", "postal_code", "city", "country",
          "marketing_consent", "home_branch_id"]  # fmt: skip


def run(job_input):
    job_input.execute_template("scd2", {
        "source_view": "customer_changes",
        "target_table": "dim_customer",
        "id_column": "customer_id",
        "value_columns": VALUES,
        "updated_at_column": "updated_at",
    })  # fmt: skip
