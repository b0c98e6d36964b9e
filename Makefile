# The two commands a newcomer needs:
#   make run    build the web app if needed and start the server on embedded defaults
#   make test   install what the tests need (when missing) and run the whole suite
SHELL := /bin/bash
.DEFAULT_GOAL := help

ARGS ?= --demo
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
WEB_SRC := $(shell find web/src web/static web/scripts web/package.json web/tsconfig.json -type f 2>/dev/null)

.PHONY: help run build web test test-go lint web-test deps

help:
	@echo "make run    start attendant on http://localhost:8080 (SQLite + local storage in ./data)"
	@echo "make test   install test dependencies if missing, then run every test"
	@echo "make build  build ./bin/attendant"

web/node_modules/.package-lock.json: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund

web/dist/index.html: web/node_modules/.package-lock.json $(WEB_SRC)
	cd web && npm run build

web: web/dist/index.html

run: web
	go run ./cmd/attendant serve $(ARGS)

build: web
	CGO_ENABLED=0 go build -trimpath -o bin/attendant ./cmd/attendant

deps:
	bash scripts/test-deps.sh

lint: web
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	go vet ./...
	go run $(STATICCHECK) ./...

web-test: web/node_modules/.package-lock.json
	cd web && npm run typecheck && npm test

# Tests run in a fresh network namespace with only loopback: nothing they
# start can reach or be reached from outside the machine.
test-go: web
	go test -race -count=1 -timeout 30m -exec "unshare -n $(CURDIR)/scripts/netns-exec" ./...

test: deps lint web-test test-go
