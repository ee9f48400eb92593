# A thin layer over CMake: the commands the README names.
#   make test   install what is missing, build (gcc, and clang with
#               ASan+UBSan and the libFuzzer targets), check formatting,
#               run static analysis (scan-build, cppcheck), then every
#               unit, integration and brief fuzz test in both builds
#   make build  the normal build only, into build/
#   make dist   the runtime release artifact, into dist/
#   make deb    Debian packages of the three programs, into build/deb/
#   make bench  benchmarks that print figures (docs/performance.md)
#   make fuzz   every fuzz target for FUZZ_SECONDS (600) each, with its
#               executions and coverage (scripts/fuzz.sh)
#   make format rewrite the sources with clang-format

BUILD      ?= build
ASAN_BUILD ?= build-asan
SCAN_BUILD ?= build-scan
JOBS       ?= $(shell nproc)
SOURCES     = $(shell find agent common controller ivr-runtime tests \
                -name '*.[ch]' -not -path '*/build*' 2>/dev/null)

VERSION    ?= $(shell grep -o -m1 'ivr-deploy VERSION [0-9.]*' CMakeLists.txt | cut -d' ' -f3)

FUZZ_SECONDS ?= 600

.PHONY: all deps build build-asan test format format-check dist deb bench demo fuzz clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_C_COMPILER=gcc -DIVR_STATIC_AGENT=ON \
		-DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

build-asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_C_COMPILER=clang \
		-DCMAKE_BUILD_TYPE=Debug -DIVR_SANITIZE=ON -DIVR_FUZZ=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)

format-check: deps
	@clang-format --dry-run --Werror $(SOURCES)
	@echo "format check: $(words $(SOURCES)) files clean"

format: deps
	@clang-format -i $(SOURCES)

# Static analysis (scan-build, cppcheck) first: a report fails the run.
test: deps format-check build build-asan
	@scripts/static-analysis.sh $(SCAN_BUILD)
	@scripts/run-tests.sh $(BUILD) $(ASAN_BUILD)

# dist/ivr-runtime-$(VERSION).tar.gz and its .sha256 (make dist VERSION=1.2.0)
dist: build
	@scripts/package-runtime.sh --build $(BUILD) --version $(VERSION) --out dist

# build/deb/{ivr-deploy,ivr-agent,ivr-runtime}_$(VERSION)-1_amd64.deb, checked
# with lintian (docs/packaging.md)
deb: build
	@rm -f $(BUILD)/deb/*.deb
	@cd $(BUILD) && cpack -G DEB >/dev/null
	@scripts/lintian-check.sh $(BUILD)/deb/*.deb

# Benchmarks that print figures (docs/performance.md); not part of make test.
bench: build
	@scripts/install-deps.sh bench
	@scripts/bench-agent-size.sh $(BUILD)
	@scripts/bench-runtime.sh $(BUILD)
	@scripts/bench-status.sh $(BUILD)
	@scripts/bench-deploy.sh $(BUILD)

# Every libFuzzer target for FUZZ_SECONDS each (not part of make test,
# which runs each for a few seconds).
fuzz: build-asan
	@scripts/fuzz.sh $(ASAN_BUILD) $(FUZZ_SECONDS)

# The sandbox fleet: install, go live in phases, roll back (scripts/demo.sh).
demo: build
	@scripts/demo.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(SCAN_BUILD) dist
