-- Token classes, version 4. Providers bill prompt tokens written to their cache (Anthropic
-- cache_creation_input_tokens) and reasoning tokens (OpenAI completion_tokens_details) at prices of
-- their own, so the ledger keeps them to show how every cost was made up. Same convention as the
-- result event: input_tokens counts every prompt token and cached_input_tokens and
-- cache_creation_input_tokens are parts of it; reasoning_tokens is a part of output_tokens.
ALTER TABLE cost_ledger
    ADD COLUMN cache_creation_input_tokens bigint NOT NULL DEFAULT 0,
    ADD COLUMN reasoning_tokens            bigint NOT NULL DEFAULT 0;
ALTER TABLE requests
    ADD COLUMN cache_creation_input_tokens bigint NOT NULL DEFAULT 0,
    ADD COLUMN reasoning_tokens            bigint NOT NULL DEFAULT 0;
