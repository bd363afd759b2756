-- The pipeline's tables. Idempotent: every statement is a no-op when the object exists.
-- (Indexes on the big tables are created only when missing, in DO blocks: CREATE INDEX IF
-- NOT EXISTS would lock the table on every run, and wait for its autovacuum.)
-- Runs with search_path set to the pipeline's schema.

CREATE TABLE IF NOT EXISTS customers (
    customer_id     uuid PRIMARY KEY,
    first_name      varchar(50)   NOT NULL,
    last_name       varchar(50)   NOT NULL,
    email           varchar(100)  NOT NULL,
    address         text          NOT NULL,
    city            varchar(50)   NOT NULL,
    state           varchar(50)   NOT NULL,
    country         varchar(50)   NOT NULL,
    postal_code     varchar(20)   NOT NULL,
    date_of_birth   date          NOT NULL,
    account_balance numeric(10,2) NOT NULL CHECK (account_balance >= 0),
    created_at      timestamptz   NOT NULL,
    closed_at       timestamptz   CHECK (closed_at > created_at)  -- NULL: the account is open
) WITH (fillfactor = 90);  -- room for a changed row on its page: no new index entries
-- The day's sign-ups by their date: the basket KPIs, the checks and the Customers section
-- read a day's or a month's sign-ups without reading every customer.
DO $$ BEGIN IF to_regclass('customers_created_at') IS NULL THEN
    CREATE INDEX customers_created_at ON customers (created_at);
END IF; END $$;

-- Every version of every customer (SCD type 2): valid from valid_from until valid_to, the
-- next version's valid_from (NULL: the current one, the row in customers).
CREATE TABLE IF NOT EXISTS customers_history (
    customer_id     uuid          NOT NULL,
    first_name      varchar(50)   NOT NULL,
    last_name       varchar(50)   NOT NULL,
    email           varchar(100)  NOT NULL,
    address         text          NOT NULL,
    city            varchar(50)   NOT NULL,
    state           varchar(50)   NOT NULL,
    country         varchar(50)   NOT NULL,
    postal_code     varchar(20)   NOT NULL,
    date_of_birth   date          NOT NULL,
    account_balance numeric(10,2) NOT NULL CHECK (account_balance >= 0),
    created_at      timestamptz   NOT NULL,
    closed_at       timestamptz,
    valid_from      timestamptz   NOT NULL,
    valid_to        timestamptz   CHECK (valid_to > valid_from),
    PRIMARY KEY (customer_id, valid_from)
) WITH (fillfactor = 90);  -- a version's valid_to is set later: on its page
DO $$ BEGIN IF to_regclass('customers_history_valid_from') IS NULL THEN
    CREATE INDEX customers_history_valid_from ON customers_history (valid_from);
END IF; END $$;

CREATE TABLE IF NOT EXISTS products (
    product_id   serial PRIMARY KEY,
    product_name varchar(100)  NOT NULL,
    category     varchar(100)  NOT NULL,
    price        numeric(10,2) NOT NULL CHECK (price > 0),
    quantity     integer       NOT NULL CHECK (quantity >= 0),  -- units in stock, by popularity
    brand        varchar(50)   NOT NULL,
    price_tier   varchar(20)   NOT NULL CHECK (price_tier IN ('budget', 'standard', 'premium')),
    discontinued_at timestamptz  -- NULL: on sale; from then on it is no longer sold
) WITH (fillfactor = 90);

-- Every version of every product (SCD type 2, as customers_history): a price change, a
-- launch or a discontinuation takes effect at 00:00 UTC of its day.
CREATE TABLE IF NOT EXISTS products_history (
    product_id   integer       NOT NULL,
    product_name varchar(100)  NOT NULL,
    category     varchar(100)  NOT NULL,
    price        numeric(10,2) NOT NULL CHECK (price > 0),
    quantity     integer       NOT NULL CHECK (quantity >= 0),
    brand        varchar(50)   NOT NULL,
    price_tier   varchar(20)   NOT NULL,
    discontinued_at timestamptz,
    valid_from   timestamptz   NOT NULL,
    valid_to     timestamptz   CHECK (valid_to > valid_from),
    PRIMARY KEY (product_id, valid_from)
) WITH (fillfactor = 90);
DO $$ BEGIN IF to_regclass('products_history_valid_from') IS NULL THEN
    CREATE INDEX products_history_valid_from ON products_history (valid_from);
END IF; END $$;

-- A promotion applies to one category or to one product, from start_date to end_date
-- (both included); ids are stable: (year x 12 + month - 1) x 16 + slot (generate/promotions.py).
CREATE TABLE IF NOT EXISTS promotions (
    promotion_id     integer PRIMARY KEY,
    name             varchar(150) NOT NULL,
    start_date       date         NOT NULL,
    end_date         date         NOT NULL,
    discount_percent smallint     NOT NULL CHECK (discount_percent BETWEEN 1 AND 99),
    category         varchar(100),
    product_id       integer      REFERENCES products,
    CHECK (start_date <= end_date),
    CHECK ((category IS NULL) <> (product_id IS NULL))
);

CREATE TABLE IF NOT EXISTS stores (
    store_id   serial PRIMARY KEY,
    store_name varchar(50) NOT NULL,
    location   varchar(50) NOT NULL,
    store_type varchar(50) NOT NULL CHECK (store_type IN ('Retail', 'Online')),
    open_hour  smallint    NOT NULL CHECK (open_hour BETWEEN 0 AND 23),  -- first hour open
    close_hour smallint    NOT NULL CHECK (close_hour BETWEEN 1 AND 24), -- first hour closed
    timezone   varchar(50) NOT NULL,  -- IANA name; open_hour and close_hour are local
    CHECK (open_hour < close_hour)
);

-- One partition per business date (transactions_YYYYMMDD), swapped in atomically by the load.
CREATE TABLE IF NOT EXISTS transactions (
    transaction_id     uuid          NOT NULL,
    basket_id          uuid          NOT NULL,  -- the receipt: one visit's lines
    business_date      date          NOT NULL,
    customer_id        uuid          NOT NULL REFERENCES customers,
    transaction_date   timestamptz   NOT NULL,
    transaction_amount numeric(10,2) NOT NULL,
    store_id           integer       NOT NULL REFERENCES stores,
    product_id         integer       NOT NULL REFERENCES products,
    quantity           integer       NOT NULL CHECK (quantity > 0),
    unit_price         numeric(10,2) NOT NULL CHECK (unit_price > 0),
    payment_method     varchar(50)   NOT NULL,
    promotion_id       integer       REFERENCES promotions,  -- NULL: bought at full price
    discount_amount    numeric(10,2) NOT NULL CHECK (discount_amount >= 0),
    PRIMARY KEY (transaction_id, business_date),
    CONSTRAINT transactions_amount_is_price_times_quantity_less_discount
        CHECK (transaction_amount = unit_price * quantity - discount_amount),
    CONSTRAINT transactions_date_within_business_date
        CHECK ((transaction_date AT TIME ZONE 'UTC')::date = business_date)
) PARTITION BY RANGE (business_date);

-- One row per customer and business date they bought on: the GROUP BY customer_id of the
-- day's lines, one partition per business date (customer_days_YYYYMMDD), replaced by the
-- day's load in the transaction that swaps in the day's transactions (customer_days.py).
-- The Customers section and the day's per-customer KPIs read it: a day's buyers, not its lines.
CREATE TABLE IF NOT EXISTS customer_days (
    business_date  date        NOT NULL,
    customer_id    uuid        NOT NULL,
    lines          integer     NOT NULL,  -- the day's lines (transactions) of the customer
    quantity       bigint      NOT NULL,
    cents          bigint      NOT NULL,  -- sum of transaction_amount, in cents
    first_purchase timestamptz NOT NULL,  -- the earliest transaction_date of the day
    baskets        integer     NOT NULL   -- the day's distinct basket_id of the customer
) PARTITION BY RANGE (business_date);

-- The Customers section's window state: per customer who bought in the 90 days ending on
-- the business date, their last day, days bought on (in the 90 days, in the last 30) and
-- cents; one partition per date (customer_windows_YYYYMMDD), made by calculate_metrics
-- from the previous date's state and the days entering and leaving the window, or from
-- the window's customer_days; only the newest few are kept (customer_metrics.py).
CREATE TABLE IF NOT EXISTS customer_windows (
    business_date  date        NOT NULL,
    customer_id    uuid        NOT NULL,
    last_day       date        NOT NULL,
    days           integer     NOT NULL,
    recent_days    integer     NOT NULL,
    cents          float8      NOT NULL   -- integer cents, exact below 2^53
) PARTITION BY RANGE (business_date);

-- What each state was made of: the customer_days partitions of its window (their OIDs;
-- a reloaded day is a new partition), so a state is reused only while they are in place.
CREATE TABLE IF NOT EXISTS customer_window_sources (
    business_date  date        PRIMARY KEY,
    partitions     oid[]       NOT NULL
);

-- Returns. A sale day's load holds the returns of its lines here (drawn when the day is
-- generated: generate/returns.py), one partition per sale day (returns_scheduled_YYYYMMDD,
-- swapped in with the day's transactions); not published: see returns.
CREATE TABLE IF NOT EXISTS returns_scheduled (
    return_id      uuid          NOT NULL,
    transaction_id uuid          NOT NULL,  -- the returned line, sold on business_date
    business_date  date          NOT NULL,
    return_date    timestamptz   NOT NULL,
    quantity       integer       NOT NULL CHECK (quantity > 0),
    refund_amount  numeric(10,2) NOT NULL CHECK (refund_amount >= 0),
    reason         varchar(50)   NOT NULL,
    store_id       integer       NOT NULL,
    PRIMARY KEY (return_id, business_date),
    CONSTRAINT returns_scheduled_after_the_sale_day
        CHECK (return_date >= (business_date + 1)::timestamp AT TIME ZONE 'UTC')
) PARTITION BY RANGE (business_date);
DO $$ BEGIN IF to_regclass('returns_scheduled_return_date') IS NULL THEN
    CREATE INDEX returns_scheduled_return_date ON returns_scheduled (return_date);
END IF; END $$;

-- The published returns: a scheduled return once both its sale day and its return day
-- are loaded (customer_pipeline/returns.py), one partition per return day (returns_YYYYMMDD,
-- UTC days, built by that day's load). Nothing here is dated after a loaded day.
CREATE TABLE IF NOT EXISTS returns (
    return_id      uuid          NOT NULL,
    transaction_id uuid          NOT NULL,
    business_date  date          NOT NULL,  -- the sale's
    return_date    timestamptz   NOT NULL,  -- when it was processed (UTC in the files)
    quantity       integer       NOT NULL CHECK (quantity > 0),
    refund_amount  numeric(10,2) NOT NULL CHECK (refund_amount >= 0),
    reason         varchar(50)   NOT NULL,
    store_id       integer       NOT NULL REFERENCES stores,
    PRIMARY KEY (return_id, return_date),
    FOREIGN KEY (transaction_id, business_date) REFERENCES transactions,
    CONSTRAINT returns_after_the_sale_day
        CHECK (return_date >= (business_date + 1)::timestamp AT TIME ZONE 'UTC')
) PARTITION BY RANGE (return_date);
DO $$ BEGIN IF to_regclass('returns_business_date') IS NULL THEN
    CREATE INDEX returns_business_date ON returns (business_date);
END IF; END $$;

CREATE TABLE IF NOT EXISTS daily_metrics (
    business_date              date PRIMARY KEY,
    transaction_count          bigint        NOT NULL,
    total_sales                numeric(16,2) NOT NULL,
    total_quantity_sold        bigint        NOT NULL,
    average_transaction_amount numeric(12,2) NOT NULL,
    min_transaction_amount     numeric(10,2) NOT NULL,
    max_transaction_amount     numeric(10,2) NOT NULL,
    unique_customers           bigint        NOT NULL,
    top_product_id             integer,
    top_customer_id            uuid,
    top_store_id               integer,
    payment_methods            jsonb         NOT NULL,
    metrics                    json          NOT NULL,  -- the whole document, as `metrics --json` prints it (json: keeps its key order)
    insights                   jsonb         NOT NULL,  -- the report's breakdowns and top 5s
    baselines                  jsonb         NOT NULL,  -- per KPI: expected, band, flag, changes (baselines.py)
    customers                  jsonb         NOT NULL,  -- the Customers section (customer_metrics.py)
    calculated_at              timestamptz   NOT NULL DEFAULT now()
);

-- The data-quality results of each day, replaced when the day's checks run again
-- (quality.py); an error among them kept the day's KPIs from being published.
CREATE TABLE IF NOT EXISTS quality_results (
    business_date date        NOT NULL,
    check_name    text        NOT NULL,
    severity      text        NOT NULL CHECK (severity IN ('error', 'warning')),
    passed        boolean     NOT NULL,
    value         numeric,
    expected      text        NOT NULL,  -- the expectation as the report shows it
    low           numeric,               -- the limits, when the check has a range
    high          numeric,
    checked_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (business_date, check_name)
);

CREATE TABLE IF NOT EXISTS pipeline_runs (
    run_id        uuid PRIMARY KEY,
    business_date date        NOT NULL,
    seed          bigint      NOT NULL,
    locale        text        NOT NULL,
    sizes         jsonb       NOT NULL,
    row_counts    jsonb       NOT NULL DEFAULT '{}',
    timings       jsonb       NOT NULL DEFAULT '{}',
    versions      jsonb       NOT NULL,
    -- true: the run's process holds the run's advisory lock for its whole life (CLI runs);
    -- 'running' with that lock free means the process died: the next run says 'abandoned'
    process_lock  boolean     NOT NULL DEFAULT false,
    status        text        NOT NULL CONSTRAINT pipeline_runs_status_check
                              CHECK (status IN ('running', 'success', 'failed', 'abandoned')),
    error         text,
    delivered_to  text,        -- where the report went (outbox file, smtp://..., sendgrid)
    started_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz
);
CREATE INDEX IF NOT EXISTS pipeline_runs_business_date ON pipeline_runs (business_date);

-- The dataset this schema holds (one row, written by the first run): see dataset.py.
CREATE TABLE IF NOT EXISTS pipeline_dataset (
    one           boolean PRIMARY KEY DEFAULT true CHECK (one),
    seed          bigint  NOT NULL,
    locale        text    NOT NULL,
    customers     bigint  NOT NULL,
    products      bigint  NOT NULL,
    stores        bigint  NOT NULL,
    history_start date    NOT NULL,
    generator     text    NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
