# Relais — see README.md. Two commands matter: `make run` and `make test`.
GO      ?= go
BIN     := bin/relais
ADDR    ?= 127.0.0.1:8080
DATA    ?= ./data

.PHONY: build run test vet race bench fuzz certs validate clean

build:
	$(GO) build -o $(BIN) ./cmd/relais

certs: build
	./$(BIN) certs --dir certs

run: build
	./$(BIN) serve --addr $(ADDR) --data $(DATA) --dev --demo

# The whole suite, including the independent FHIR validator over every
# mapping's output (needs node >= 20; installs its npm packages on first use).
test:
	RELAIS_VALIDATE=1 $(GO) test -count=1 ./...

vet:
	$(GO) vet ./...

race:
	$(GO) test -race -count=1 ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# Short fuzzing of every Fuzz target (FUZZTIME per target). Minimising an
# interesting input may otherwise take up to a minute of the FUZZTIME with
# no new executions; FUZZMINIMIZE bounds it.
FUZZTIME ?= 10s
FUZZMINIMIZE ?= 2s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) $$pkg || exit 1; \
	  done; \
	done

clean:
	rm -rf bin
