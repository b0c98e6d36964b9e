package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/attendant/attendant/objstore"
	"github.com/attendant/attendant/recorder"
	"github.com/attendant/attendant/store"
)

const verifyUsage = `Usage: attendant verify [--case ID]... [--json] [serve flags: --data, --db, --store, --config]

Checks the audit log's hash chain and, for every case (or those named),
the evidence chain and each stored object's SHA-256 and size. Prints what
is intact and what is not; exits 0 when everything is intact, 1 when
something is not, 2 when it cannot check.
`

// verifyCmd is `attendant verify`.
func verifyCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var cases []string
	asJSON := false
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--case" || a == "-case":
			if i+1 >= len(args) {
				fmt.Fprint(stderr, "attendant verify: --case needs a case id\n\n"+verifyUsage)
				return 2
			}
			cases = append(cases, args[i+1])
			i++
		case strings.HasPrefix(a, "--case="):
			cases = append(cases, strings.TrimPrefix(a, "--case="))
		case a == "--json":
			asJSON = true
		case a == "-h" || a == "--help":
			fmt.Fprint(stdout, verifyUsage)
			return 0
		default:
			rest = append(rest, a)
		}
	}
	cfg, err := parseServeConfig(rest, os.Getenv)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "attendant verify: %v\n", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	db, err := store.Open(ctx, cfg.DB, cfg.Data, log)
	if err != nil {
		fmt.Fprintf(stderr, "attendant verify: %v\n", err)
		return 2
	}
	defer db.Close()
	objects, err := objstore.Open(ctx, cfg.Store, cfg.Data, log)
	if err != nil {
		fmt.Fprintf(stderr, "attendant verify: open object store: %v\n", err)
		return 2
	}
	defer objects.Close()

	auditProblems, entries, err := store.VerifyAudit(ctx, db.Q())
	if err != nil {
		fmt.Fprintf(stderr, "attendant verify: %v\n", err)
		return 2
	}
	if len(cases) == 0 {
		if cases, err = allCaseIDs(ctx, db); err != nil {
			fmt.Fprintf(stderr, "attendant verify: %v\n", err)
			return 2
		}
	}
	failed := len(auditProblems) > 0
	var reports []recorder.Report
	for _, id := range cases {
		rep, err := recorder.VerifyCase(ctx, db, objects, id)
		if err != nil {
			fmt.Fprintf(stderr, "attendant verify: %v\n", err)
			return 2
		}
		failed = failed || !rep.OK
		reports = append(reports, rep)
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(map[string]any{"ok": !failed, "audit": map[string]any{"entries": entries, "problems": auditProblems},
			"cases": reports})
	} else {
		if len(auditProblems) == 0 {
			fmt.Fprintf(stdout, "audit log: intact (%d entries)\n", entries)
		} else {
			fmt.Fprintf(stdout, "audit log: %d problems in %d entries\n", len(auditProblems), entries)
			for _, p := range auditProblems {
				fmt.Fprintf(stdout, "  entry %d: %s\n", p.Seq, p.Problem)
			}
		}
		for _, r := range reports {
			if r.OK {
				fmt.Fprintf(stdout, "case %s: intact (%d objects, %d bytes, %d purged by retention)\n", r.CaseID, r.Checked, r.Bytes, r.Purged)
				continue
			}
			fmt.Fprintf(stdout, "case %s: %d problems\n", r.CaseID, len(r.Problems))
			for _, p := range r.Problems {
				fmt.Fprintf(stdout, "  %s: %s\n", orDash(p.Key, p.EvidenceID), p.Problem)
			}
		}
		fmt.Fprintf(stdout, "%d cases checked\n", len(reports))
	}
	if failed {
		return 1
	}
	return 0
}

func orDash(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return "-"
}

func allCaseIDs(ctx context.Context, db *store.DB) ([]string, error) {
	var ids []string
	cursor := ""
	for {
		page, next, err := store.List[store.Case](ctx, db.Q(), store.Filter{Limit: store.MaxPage, Cursor: cursor})
		if err != nil {
			return nil, err
		}
		for _, c := range page {
			ids = append(ids, c.ID)
		}
		if next == "" {
			return ids, nil
		}
		cursor = next
	}
}
