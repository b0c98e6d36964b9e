//go:build !unix

package objstore

import "io/fs"

// inode returns 0 (unknown) where file systems expose no inode numbers;
// sidecars are then matched on size and modification time alone.
func inode(fs.FileInfo) uint64 { return 0 }
