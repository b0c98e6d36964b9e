// Package store is attendant's database: embedded SQLite by default,
// PostgreSQL for operators who run several nodes. One portable schema,
// migrations embedded and applied at start.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // PostgreSQL driver "pgx"
	"github.com/jmoiron/sqlx"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Dialect names the SQL flavour behind a DB.
type Dialect string

// Supported dialects.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// DB is the database handle shared by the whole server. It is safe for
// concurrent use.
type DB struct {
	x       *sqlx.DB
	dialect Dialect
	log     *slog.Logger
}

// Open connects to the database named by rawURL and applies pending
// migrations. An empty rawURL means SQLite at dataDir/attendant.db;
// "postgres://" or "postgresql://" means PostgreSQL; "sqlite:PATH" names
// another SQLite file.
func Open(ctx context.Context, rawURL, dataDir string, log *slog.Logger) (*DB, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var (
		db      *DB
		err     error
		display string
	)
	switch {
	case rawURL == "" || strings.HasPrefix(rawURL, "sqlite:"):
		path := strings.TrimPrefix(rawURL, "sqlite:")
		if path == "" {
			if err := os.MkdirAll(dataDir, 0o750); err != nil {
				return nil, fmt.Errorf("create data dir: %w", err)
			}
			path = filepath.Join(dataDir, "attendant.db")
		}
		display = path
		db, err = openSQLite(path)
	case strings.HasPrefix(rawURL, "postgres://") || strings.HasPrefix(rawURL, "postgresql://"):
		display = Redact(rawURL)
		db, err = openPostgres(ctx, rawURL)
	default:
		return nil, fmt.Errorf("open database: unsupported URL %q (want empty, sqlite:PATH or postgres://)", Redact(rawURL))
	}
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", display, err)
	}
	db.log = log
	if err := db.migrate(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("migrate database %s: %w", display, err)
	}
	log.Info("database ready", "dialect", db.dialect, "db", display)
	return db, nil
}

func openSQLite(path string) (*DB, error) {
	q := url.Values{}
	for _, p := range []string{"foreign_keys(1)", "journal_mode(WAL)", "busy_timeout(10000)", "synchronous(NORMAL)"} {
		q.Add("_pragma", p)
	}
	q.Set("_time_format", "sqlite")
	// immediate: a write transaction takes the lock up front, so two
	// writers queue on busy_timeout instead of failing to upgrade.
	q.Set("_txlock", "immediate")
	sqldb, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	if err := sqldb.Ping(); err != nil {
		_ = sqldb.Close()
		return nil, err
	}
	// sqlx picks the placeholder style by driver name: "sqlite3" means "?".
	return &DB{x: sqlx.NewDb(sqldb, "sqlite3"), dialect: SQLite}, nil
}

func openPostgres(ctx context.Context, rawURL string) (*DB, error) {
	sqldb, err := sql.Open("pgx", rawURL)
	if err != nil {
		return nil, err
	}
	if err := sqldb.PingContext(ctx); err != nil {
		_ = sqldb.Close()
		return nil, err
	}
	sqldb.SetMaxOpenConns(20)
	return &DB{x: sqlx.NewDb(sqldb, "pgx"), dialect: Postgres}, nil
}

func (db *DB) migrate(ctx context.Context) error {
	fsys, err := fs.Sub(migrationFS, "migrations")
	if err != nil {
		return err
	}
	dialect := goose.DialectSQLite3
	var opts []goose.ProviderOption
	if db.dialect == Postgres {
		dialect = goose.DialectPostgres
		// Several nodes may start at once: only one migrates.
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	opts = append(opts, goose.WithGoMigrations(appendOnlyAuditMigration(db.dialect)))
	p, err := goose.NewProvider(dialect, db.x.DB, fsys, opts...)
	if err != nil {
		return err
	}
	results, err := p.Up(ctx)
	if err != nil {
		return err
	}
	for _, r := range results {
		db.log.Info("applied migration", "version", r.Source.Version, "path", r.Source.Path, "duration", r.Duration)
	}
	return nil
}

// appendOnlyAuditMigration makes the database itself refuse to change or
// delete audit rows; the statements differ per dialect, so it is Go.
func appendOnlyAuditMigration(d Dialect) *goose.Migration {
	up := []string{
		`CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
		 BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END`,
		`CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
		 BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END`,
	}
	down := []string{`DROP TRIGGER audit_log_no_update`, `DROP TRIGGER audit_log_no_delete`}
	if d == Postgres {
		up = []string{
			`CREATE FUNCTION audit_log_refuse() RETURNS trigger LANGUAGE plpgsql AS
			 $$ BEGIN RAISE EXCEPTION 'audit log is append-only'; END $$`,
			`CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
			 FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse()`,
		}
		down = []string{`DROP TRIGGER audit_log_no_change ON audit_log`, `DROP FUNCTION audit_log_refuse()`}
	}
	run := func(stmts []string) *goose.GoFunc {
		return &goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error {
			for _, s := range stmts {
				if _, err := tx.ExecContext(ctx, s); err != nil {
					return err
				}
			}
			return nil
		}}
	}
	return goose.NewGoMigration(2, run(up), run(down))
}

// Dialect reports which database this is.
func (db *DB) Dialect() Dialect { return db.dialect }

// Ping checks the database answers (for /readyz).
func (db *DB) Ping(ctx context.Context) error {
	return db.x.PingContext(ctx)
}

// Close closes the connection pool.
func (db *DB) Close() error { return db.x.Close() }

// Redact hides a password in a database URL, for logs and errors.
func Redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.User == nil {
		if err != nil {
			return "(unparseable URL)"
		}
		return rawURL
	}
	return u.Redacted()
}

// mapError turns driver errors into the package's sentinel errors.
func mapError(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%w: %v", ErrConflict, err)
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return fmt.Errorf("%w: %v", ErrReferenced, err)
		}
		if strings.Contains(se.Error(), "append-only") {
			return ErrAppendOnly
		}
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505":
			return fmt.Errorf("%w: %v", ErrConflict, err)
		case "23503":
			return fmt.Errorf("%w: %v", ErrReferenced, err)
		}
		if strings.Contains(pe.Message, "append-only") {
			return ErrAppendOnly
		}
	}
	return err
}
