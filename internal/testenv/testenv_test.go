package testenv_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/minio/minio-go/v7"
	"github.com/stretchr/testify/require"

	"github.com/attendant/attendant/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestPostgres(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	open := func(url string) *sql.DB {
		db, err := sql.Open("pgx", url)
		require.NoError(t, err)
		t.Cleanup(func() { _ = db.Close() })
		return db
	}
	a := open(testenv.Postgres(t))
	b := open(testenv.Postgres(t))

	var one int
	require.NoError(t, a.QueryRowContext(ctx, "SELECT 1").Scan(&one))
	require.Equal(t, 1, one)

	// each call gets its own database
	_, err := a.ExecContext(ctx, "CREATE TABLE only_in_a (id int)")
	require.NoError(t, err)
	var n int
	require.NoError(t, b.QueryRowContext(ctx,
		"SELECT count(*) FROM information_schema.tables WHERE table_name = 'only_in_a'").Scan(&n))
	require.Zero(t, n)
}

func TestMinIO(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	srv := testenv.MinIO(t)
	c := srv.Client(t)
	_, err := c.ListBuckets(ctx)
	require.NoError(t, err)
	require.NoError(t, c.MakeBucket(ctx, "kept", minio.MakeBucketOptions{}))
	require.Contains(t, srv.URL("kept"), "s3+http://"+srv.AccessKey+":"+srv.SecretKey+"@"+srv.Endpoint+"/kept")

	srv.Stop(t)
	downCtx, downCancel := context.WithTimeout(ctx, 3*time.Second)
	_, err = c.ListBuckets(downCtx)
	downCancel()
	require.Error(t, err, "server should be down")

	srv.Start(t)
	ok, err := c.BucketExists(ctx, "kept")
	require.NoError(t, err)
	require.True(t, ok, "data must survive Stop/Start")
}

func TestFreePort(t *testing.T) {
	p := testenv.FreePort(t)
	require.Greater(t, p, 0)
}
