/* migrations.h - numbered SQL migrations embedded from src/store/migrations/. */
#ifndef MSGD_MIGRATIONS_H
#define MSGD_MIGRATIONS_H

struct migration {
	int version;        /* NNNN from NNNN_name.sql; applied in increasing order */
	const char *name;
	const char *sql;
};

extern const struct migration migrations[];
extern const int migrations_count;

#endif
