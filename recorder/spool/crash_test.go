package spool_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/attendant/attendant/objstore"
	"github.com/attendant/attendant/recorder/spool"
)

// crashDirEnv tells the test binary, started again by TestKill9, to run
// crashHelper in that directory.
const crashDirEnv = "ATTENDANT_SPOOL_CRASH_DIR"

// TestCrashHelper is not a test: it is the process TestKill9 kills. It
// spools five objects while the store is down, says which, starts a sixth
// and keeps writing it until it is killed.
func TestCrashHelper(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("the process TestKill9 kills")
	}
	sp, err := spool.New(spool.Config{Dir: dir, RetryMin: time.Millisecond, RetryMax: 10 * time.Millisecond}, &downStore{})
	require.NoError(t, err)
	go func() { _ = sp.Run(context.Background()) }()
	for i := range 5 {
		data := payload(10_000+i, uint64(i))
		key := fmt.Sprintf("cam-%d/seg.mp4", i)
		_, err := sp.Put(key, bytes.NewReader(data), objstore.PutOptions{})
		require.NoError(t, err)
		fmt.Printf("committed %s %s %d\n", key, sha(data), i)
	}
	w, err := sp.Create("cam-9/in-progress.mp4", objstore.PutOptions{})
	require.NoError(t, err)
	_, err = w.Write(payload(300_000, 100))
	require.NoError(t, err)
	fmt.Println("writing")
	for { // until killed
		_, err := w.Write(payload(1000, 101))
		require.NoError(t, err)
		time.Sleep(time.Millisecond)
	}
}

// TestKill9 kills (SIGKILL) a process that has spooled objects and is
// writing another; a new Spool on its directory uploads every committed
// object and removes the half-written one.
func TestKill9(t *testing.T) {
	checkGoroutines(t)
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	committed := map[string]string{} // key → sha256
	seeds := map[string]uint64{}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		if line == "writing" {
			break
		}
		var key, sum string
		var seed uint64
		if _, err := fmt.Sscanf(line, "committed %s %s %d", &key, &sum, &seed); err == nil {
			committed[key], seeds[key] = sum, seed
		}
	}
	require.NoError(t, sc.Err())
	require.Len(t, committed, 5, "the helper committed five objects")
	time.Sleep(20 * time.Millisecond) // mid-write
	require.NoError(t, cmd.Process.Kill())
	require.Error(t, cmd.Wait(), "killed")

	var parts int
	for _, n := range dirFiles(t, dir) {
		if strings.HasSuffix(n, ".part") {
			parts++
		}
	}
	require.Equal(t, 1, parts, "the kill left a half-written file")

	store := newLocalStore(t)
	var col collector
	sp, err := spool.New(spool.Config{Dir: dir, OnUploaded: col.add}, store)
	require.NoError(t, err)
	require.Equal(t, 5, sp.Stats().Pending)
	startRun(t, sp)
	waitFor(t, 10*time.Second, "uploads", drained(sp))
	for key, sum := range committed {
		info := requireObject(t, store, key, payload(10_000+int(seeds[key]), seeds[key]))
		require.Equal(t, sum, info.SHA256)
	}
	require.Len(t, col.keys(), 5)
	_, err = store.Stat(ctxT(t), "cam-9/in-progress.mp4")
	require.ErrorIs(t, err, objstore.ErrNotFound)
	require.Empty(t, dirFiles(t, dir))
}
