//go:build unix

package objstore

import (
	"io/fs"
	"syscall"
)

// inode returns the file's inode number: a rename keeps it and a new file
// gets another, which tells a sidecar's data file from its replacement.
func inode(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino)
	}
	return 0
}
