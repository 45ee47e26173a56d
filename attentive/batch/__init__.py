"""`attentive batch`: score a JSONL / CSV / Parquet file against a running server, exactly once.

Modules, each one idea:
  formats   read rows, encode result rows (JSONL, CSV, Parquet via a JSONL staging file)
  plan      which column feeds which model input, which outputs to keep (from the card or the
            server's model configuration), rows -> request tensors, responses -> result rows
  sender    the grpc.aio channel (round_robin over several servers or one DNS name), retries with
            backoff on UNAVAILABLE / DEADLINE_EXCEEDED / CANCELLED only, bounded concurrency
  journal   the committed state: job fingerprint, rows done, output and errors byte lengths
  progress  a progress bar with rows/s and ETA on a terminal, nothing otherwise
  job       the loop: chunks of rows in input order -> requests -> results written in order

Exactly once, by construction: results are appended in input order; after fsync of the output
and errors files, the journal (written to a temporary file, fsynced, renamed) records how many
rows are done and how long both files are. A rerun truncates both files to those lengths and
continues with the next row, so bytes past the last commit (a kill mid-write) are dropped and
written again identically: chunk boundaries depend only on the row number and the batch size.
Parquet output is staged as JSONL the same way and converted, then renamed into place, at the end.
"""
