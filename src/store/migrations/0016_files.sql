-- 0016_files.sql - the files store (issue 14, src/files/): one row per
-- organization and content. The content itself lives on disk, addressed by
-- its SHA-256 (<data>/files/ab/cdef...), shared by every organization that
-- uploaded the same bytes. refs counts what references the file (an import,
-- a message's media, a campaign); the retention sweep removes rows with no
-- reference not used for files_retention_hours, and the content once no
-- row has its sha256 any more.
CREATE TABLE files (
	id TEXT NOT NULL PRIMARY KEY,      -- "f_" + 26 base32 characters
	org_id INTEGER NOT NULL,
	sha256 TEXT NOT NULL,              -- hex
	size INTEGER NOT NULL,
	mime_type TEXT NOT NULL,           -- sniffed (libmagic), never the client's word
	filename TEXT,
	created_at INTEGER NOT NULL,       -- ms
	last_used_at INTEGER NOT NULL,     -- ms
	refs INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX files_content ON files (org_id, sha256);
CREATE INDEX files_sha256 ON files (sha256);
CREATE INDEX files_org ON files (org_id, created_at, id);
CREATE INDEX files_sweep ON files (last_used_at) WHERE refs = 0;
