module vitals.local/runtime-wrapper

go 1.22
