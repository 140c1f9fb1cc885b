# distpac — make help lists the targets.
GO      ?= go
BIN     ?= $(CURDIR)/bin
# VERSION is what --version prints: the commit, as git describe names it.
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo unknown)
# The two longest packages first: go test starts packages in this order, two at a time on
# two cores, and the swarm package (about 300 s under -race) listed in path order ran last,
# alone, for minutes (make test 18.5 minutes here).
PKGS    := ./internal/swarm ./e2e ./...
# Tests that call t.Parallel are the waiting ones (timers, capped rates, stalls on purpose;
# swarm_test.go and e2e_test.go say which), and testscript's scripts: four at a time, not
# GOMAXPROCS (two here), as the machine is mostly idle while they wait. Each package alone
# under -race on a quiet 2-core machine: swarm 230 s two at a time, 175-178 s four at a time;
# e2e 318 s, 214-237 s (before they were parallel: swarm 315-337 s, e2e 408-417 s).
PARALLEL ?= 4
# the patched library's own tests of the patches (its upstream tests are not carried; vet is off
# for upstream code)
PATCHED := github.com/anacrolix/torrent github.com/anacrolix/torrent/smartban github.com/anacrolix/torrent/peer_protocol github.com/anacrolix/torrent/bencode
FUZZTIME ?= 60s
comma   := ,

.PHONY: help build demo test test-short vet cross fmt fuzz bench bench-swarm bench-net bench-many bench-add bench-fast bench-files third-party-diff clean

help: ## show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-17s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# The programs are built static (no cgo; nothing of theirs needs it): no
# dynamic loader and libc to start, about 4-5 ms of CPU less at every
# command's start here (dist-client --help: 28-29 against 32-37 ms of CPU,
# 912 against 977 page faults, three series of ten), and no libc version
# to match on the hosts they are copied to. In dist-bench's swarm rows,
# where 32 installs start at once on two cores (two alternations of the
# same code): N=32 1.36 and 1.38 × the bound against 1.47 and 1.47, CPU
# 17.8-20.3 against 21.9-23.6 s; N=16 the same (1.15-1.17); peak RSS of
# daemons and installs 28 against 34 MiB.
build: ## build dist-server, dist-client, named-file-server and dist-bench (static) into ./bin
	@# A first build fetches and compiles the modules: about a minute and a half on two cores
	@# with no output of its own (a newcomer's make demo looked hung).
	@[ -x $(BIN)/dist-client ] || echo "building into $(BIN) (the first build fetches and compiles the modules: a minute or two)..."
	CGO_ENABLED=0 $(GO) build -ldflags "-X github.com/distpac/distpac/internal/cli.stamped=$(VERSION)" -o $(BIN)/ ./cmd/...

demo: build ## run a server and two clients on loopback: a real install over BitTorrent
	BIN=$(BIN) ./scripts/demo.sh

test: vet cross ## vet, the other platforms' builds, then every test with the race detector (what CI runs)
	$(GO) test -race -count=1 -timeout 20m -parallel $(PARALLEL) $(PKGS)
	$(GO) test -race -count=1 -vet=off $(PATCHED)

test-short: ## quick tests without the race detector and the big transfers
	$(GO) test -short -count=1 $(PKGS)

vet: ## go vet and a gofmt check
	$(GO) vet $(PKGS)
	@out=$$(gofmt -l $$(git ls-files '*.go' ':!third_party' 2>/dev/null || find . -name '*.go' -not -path './third_party/*')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

cross: ## the programs build for macOS and 32-bit Linux, and a swarm transfer runs as 32-bit x86
	@# ./... on macOS: the benchmark (internal/bench, cmd/dist-bench) is Linux only and left out by its build constraint
	GOOS=darwin GOARCH=arm64 $(GO) build ./...
	@# 32-bit platforms panic on a 64-bit atomic that is not 8-byte aligned; the
	@# library's connection counters were (third_party PATCHES.md 19)
	@# A kernel without 32-bit support (some VMs: exec format error) cannot run it: the
	@# 32-bit dist-server built here tells, before the swarm test is built for nothing.
	@tmp=$$(mktemp -d) || exit 1; trap 'rm -rf "$$tmp"' EXIT; \
	  echo "GOARCH=386 $(GO) build ./cmd/..."; GOARCH=386 $(GO) build -o "$$tmp/" ./cmd/... || exit 1; \
	  if [ "$$(uname -m)" != x86_64 ]; then echo "not x86_64: the 32-bit x86 swarm test is skipped"; exit 0; fi; \
	  rc=0; "$$tmp/dist-server" --version >/dev/null 2>&1 || rc=$$?; \
	  if [ $$rc = 126 ]; then \
	    echo "this kernel does not run 32-bit x86 programs (exec format error): the 32-bit x86 swarm test is skipped"; exit 0; fi; \
	  GOARCH=386 $(GO) test -c -o "$$tmp/swarm.test" ./internal/swarm || exit 1; \
	  echo "GOARCH=386 $(GO) test -run 'TestDownloadFromSeeder|TestSwarmNoBadPieces' ./internal/swarm"; \
	  cd internal/swarm && "$$tmp/swarm.test" -test.count=1 -test.run '^(TestDownloadFromSeeder|TestSwarmNoBadPieces)$$'

fmt: ## gofmt every file
	gofmt -w $$(git ls-files '*.go')

fuzz: ## run every fuzz target for FUZZTIME each (default 60s)
	GO=$(GO) FUZZTIME=$(FUZZTIME) ./scripts/fuzz.sh

bench-swarm: build ## swarm benchmark: distpac vs HTTP (and aria2, Transmission, libtorrent when installed) in one run; N=16 F=16MiB U=u=2MiB/s (set N=4,16,32 F= U= UC=)
	$(BIN)/dist-bench -bin $(BIN) $(if $(N),-n $(N)) $(if $(F),-f $(F)) $(if $(U),-U $(U)) $(if $(UC),-u $(UC))

bench-net: build ## swarm benchmark on hosts as network namespaces (root): kernel link rates, round trips; N=8,32 RTT=0,100ms distpac (FULL=1: N=8,32,64 × 0,20,100ms × distpac, aria2, Transmission; or set N= RTT= METHODS= F= U= UC= MTU=)
	$(BIN)/dist-bench -net -bin $(BIN) $(if $(FULL),-full) $(if $(N),-n $(N)) $(if $(RTT),-rtt $(RTT)) $(if $(METHODS),-methods $(METHODS)) $(if $(F),-f $(F)) $(if $(U),-U $(U)) $(if $(UC),-u $(UC)) $(if $(MTU),-mtu $(MTU))

bench-many: build ## many packages: one client installs 250 and 1000 small packages, then one more with the rest installed; a 10000-package seeder starts (MANY= SEEDERS=)
	$(BIN)/dist-bench -bin $(BIN) -many $(or $(MANY),250$(comma)1000) -seeder-packages $(or $(SEEDERS),10000)

bench-add: build ## dist-server add of a 1 GiB mixed package beside zstd -3 -T1 and sha256sum, 3 runs (SIZE= RUNS=; OLD=<git rev> times that revision's add too)
	@set -e; old=""; if [ -n "$(OLD)" ]; then \
	  d=$$(mktemp -d); trap 'rm -rf "$$d"' EXIT; \
	  git archive $(OLD) | tar -x -C "$$d"; (cd "$$d" && $(GO) build -o bin/ ./cmd/dist-server); old="-old-server $$d/bin/dist-server"; \
	fi; \
	$(BIN)/dist-bench -bin $(BIN) -add $(or $(SIZE),1GiB) -runs $(or $(RUNS),3) $$old

bench-fast: build ## one fast peer: install of a 1 GiB package from one local unthrottled seeder beside curl + sha256sum + zstd -d | tar -x, 4 runs, each order twice (SIZE= RUNS=)
	$(BIN)/dist-bench -bin $(BIN) -fast $(or $(SIZE),1GiB) -runs $(or $(RUNS),4)

bench-files: build ## install of one package of 10,000 small files beside tar -xf and the same script (FILES= RUNS= DIR=/dev/shm)
	BIN=$(BIN) ./scripts/bench-files.sh

bench: ## resolver, archive, add and tracker micro-benchmarks (figures, not pass/fail)
	$(GO) test -run='^$$' -bench=. -benchmem ./internal/resolve ./internal/archive ./internal/publish ./internal/tracker

third-party-diff: ## show the patch carried in third_party/anacrolix-torrent against the pristine module
	@dir=$$($(GO) mod download -json github.com/anacrolix/torrent@v1.59.1 | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$$/\1/p'); \
	  cd third_party/anacrolix-torrent && for f in $$(find . -name '*.go' | sort); do diff -u "$$dir/$$f" "$$f"; done; true

clean: ## remove built binaries
	rm -rf $(BIN)
