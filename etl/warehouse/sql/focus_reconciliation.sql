-- Per FOCUS file and BillingCurrency: the money the file's own text holds (summed exactly from
-- the text), the money of its rejected rows, and the money loaded. A load is committed only when
-- source = loaded + rejected for both costs. Source and rejected totals are exact decimal text
-- (a rejected value may have more places than DECIMAL(38, 18) holds).
CREATE TABLE IF NOT EXISTS focus_reconciliation (
    source_uri              VARCHAR NOT NULL,
    currency                VARCHAR,
    source_rows             BIGINT NOT NULL,
    source_billed_cost      VARCHAR NOT NULL,
    source_effective_cost   VARCHAR NOT NULL,
    rejected_rows           BIGINT NOT NULL,
    rejected_billed_cost    VARCHAR NOT NULL,
    rejected_effective_cost VARCHAR NOT NULL,
    loaded_rows             BIGINT NOT NULL,
    loaded_billed_cost      DECIMAL(38, 18) NOT NULL,
    loaded_effective_cost   DECIMAL(38, 18) NOT NULL,
    reconciled_at           TIMESTAMPTZ NOT NULL
)
