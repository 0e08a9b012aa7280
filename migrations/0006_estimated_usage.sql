-- Estimated usage, version 6. A provider answer without a usage object is billed on an estimate
-- (the worker's input estimate and the completion's length), never silently at $0; the ledger row
-- says so, so spend views can show how much of a team's cost is estimated.
ALTER TABLE cost_ledger
    ADD COLUMN usage_estimated boolean NOT NULL DEFAULT false;
