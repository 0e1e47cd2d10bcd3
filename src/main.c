/*
 * main.c - the msgd command line: a table of subcommands, each with its own
 * --help. It only parses arguments and wires the subsystems together.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "config/config.h"
#include "daemon/daemon.h"

struct command {
	const char *name;
	const char *summary;
	const char *usage;
	int (*run)(int argc, char **argv);
};

static int cmd_serve(int argc, char **argv);
static int cmd_check_config(int argc, char **argv);
static int cmd_send(int argc, char **argv);
static int cmd_users(int argc, char **argv);
static int cmd_keys(int argc, char **argv);
static int cmd_migrate(int argc, char **argv);
static int cmd_help(int argc, char **argv);

static const struct command commands[] = {
	{
		.name = "serve",
		.summary = "run the gateway",
		.usage = "msgd serve [--listen ADDR:PORT] [--data DIR] [--database DSN] [--config FILE] [--log FILE]\n"
		    "           [--instance-id ID] [--outbox-lease-ms MS] [--dispatch-lease-ms MS]\n"
		    "\n"
		    "  --listen ADDR:PORT  address to listen on (env MSGD_LISTEN; default 127.0.0.1:8080)\n"
		    "  --data DIR          data directory (env MSGD_DATA; default ./var)\n"
		    "  --database DSN      sqlite: (in DIR, the default) or postgres://USER@HOST:PORT/DB\n"
		    "                      (env MSGD_DATABASE)\n"
		    "  --config FILE       configuration file (env MSGD_CONFIG)\n"
		    "  --log FILE          append logs to FILE (env MSGD_LOG_FILE; default stderr)\n"
		    "  --instance-id ID    this instance's name among those sharing a database\n"
		    "                      (env MSGD_INSTANCE_ID; default: DATA/instance.id, made once)\n"
		    "  --outbox-lease-ms MS    a claimed send's lease (env MSGD_OUTBOX_LEASE_MS; 30000)\n"
		    "  --dispatch-lease-ms MS  a channel's or webhook's lease (env MSGD_DISPATCH_LEASE_MS; 5000)\n"
		    "\n"
		    "The admin token is MSGD_ADMIN_TOKEN, or generated on first start into DIR/admin.token.\n"
		    "Precedence: flags > environment > config file > defaults.\n"
		    "SIGHUP reopens the log file and reloads the settings that can change while\n"
		    "running (log level, limits, timeouts); SIGTERM or SIGINT stops gracefully.\n",
		.run = cmd_serve,
	},
	{
		.name = "check-config",
		.summary = "validate a configuration file and exit",
		.usage = "msgd check-config [--config FILE]\n"
		    "\n"
		    "Exits 0 when FILE (or MSGD_CONFIG) is valid; otherwise prints FILE:LINE: problem.\n",
		.run = cmd_check_config,
	},
	{
		.name = "send",
		.summary = "send a message through a running msgd and follow its status",
		.usage = cli_send_usage,
		.run = cmd_send,
	},
	{
		.name = "users",
		.summary = "web UI users: add, passwd, remove, logout, list",
		.usage = cli_users_usage,
		.run = cmd_users,
	},
	{
		.name = "keys",
		.summary = "API keys: create, list, revoke",
		.usage = cli_keys_usage,
		.run = cmd_keys,
	},
	{
		.name = "campaign",   /* issue 14, h14camp */
		.summary = "create a campaign from a CSV file and watch its progress",
		.usage = cli_campaign_usage,
		.run = cli_campaign,
	},
	{
		.name = "migrate",
		.summary = "copy an SQLite data directory into an empty PostgreSQL database",
		.usage = cli_migrate_usage,
		.run = cmd_migrate,
	},
	{
		.name = "version",
		.summary = "print the version, the build's commit and the libraries' versions",
		.usage = cli_version_usage,
		.run = cli_version,
	},
	/* issue 15, h15ops: backup and restore */
	{
		.name = "backup",
		.summary = "write a consistent copy of the data directory while msgd runs",
		.usage = cli_backup_usage,
		.run = cli_backup,
	},
	{
		.name = "restore",
		.summary = "restore a backup into a new data directory",
		.usage = cli_restore_usage,
		.run = cli_restore,
	},
	{
		.name = "help",
		.summary = "show help for msgd or a command",
		.usage = "msgd help [COMMAND]\n",
		.run = cmd_help,
	},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static const struct command *
find_command(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static void
usage(FILE *f)
{
	fprintf(f, "msgd %s - a self-hosted message gateway\n\nUsage: msgd COMMAND [OPTIONS]\n\nCommands:\n",
	    MSGD_VERSION);
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-14s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\nRun 'msgd COMMAND --help' for a command's options.\n");
}

/*
 * Parse the common flags into cfg: defaults, then the config file, then the
 * environment, then flags. Returns 0, 1 for --help (printed), -1 on error.
 */
static int
load_config(const struct command *cmd, int argc, char **argv, struct config *cfg,
    struct config_args *args)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "data", required_argument, NULL, 'd' },
		{ "database", required_argument, NULL, 'D' },
		{ "config", required_argument, NULL, 'c' },
		{ "log", required_argument, NULL, 'L' },
		{ "instance-id", required_argument, NULL, 'I' },
		{ "outbox-lease-ms", required_argument, NULL, 'O' },
		{ "dispatch-lease-ms", required_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char err[CONFIG_ERR_MAX];
	int c;

	*args = (struct config_args){ .file = getenv("MSGD_CONFIG") };
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'l': args->listen = optarg; break;
		case 'd': args->data = optarg; break;
		case 'D': args->database = optarg; break;
		case 'c': args->file = optarg; break;
		case 'L': args->log_file = optarg; break;
		case 'I': args->instance_id = optarg; break;
		case 'O': args->outbox_lease_ms = optarg; break;
		case 'P': args->dispatch_lease_ms = optarg; break;
		case 'h': fputs(cmd->usage, stdout); return 1;
		default: fprintf(stderr, "%s", cmd->usage); return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "msgd %s: unexpected argument '%s'\n%s", cmd->name, argv[optind], cmd->usage);
		return -1;
	}
	if (config_build(cfg, args, err) != 0) {
		fprintf(stderr, "msgd: config error: %s\n", err);
		return -1;
	}
	return 0;
}

static int
cmd_serve(int argc, char **argv)
{
	struct config cfg;
	struct config_args args;
	int r = load_config(&commands[0], argc, argv, &cfg, &args);
	if (r != 0)
		return r > 0 ? 0 : 2;
	return daemon_run(&cfg, &args);
}

static int
cmd_check_config(int argc, char **argv)
{
	struct config cfg;
	struct config_args args;
	int r = load_config(find_command("check-config"), argc, argv, &cfg, &args);
	if (r != 0)
		return r > 0 ? 0 : 2;
	printf("configuration ok%s%s\n", cfg.config_path[0] ? ": " : " (defaults and environment)",
	    cfg.config_path);
	return 0;
}

static int
cmd_send(int argc, char **argv)
{
	return cli_send(argc, argv);
}

static int
cmd_users(int argc, char **argv)
{
	return cli_users(argc, argv);
}

static int
cmd_keys(int argc, char **argv)
{
	return cli_keys(argc, argv);
}

static int
cmd_migrate(int argc, char **argv)
{
	return cli_migrate(argc, argv);
}

static int
cmd_help(int argc, char **argv)
{
	const struct command *cmd;

	if (argc > 1) {
		if ((cmd = find_command(argv[1])) == NULL) {
			fprintf(stderr, "msgd: unknown command '%s'\n", argv[1]);
			return 2;
		}
		fputs(cmd->usage, stdout);
		return 0;
	}
	usage(stdout);
	return 0;
}

int
main(int argc, char **argv)
{
	const struct command *cmd;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
		return cmd_help(1, argv);
	if (strcmp(argv[1], "--version") == 0)
		return cli_version(1, argv);
	if ((cmd = find_command(argv[1])) == NULL) {
		fprintf(stderr, "msgd: unknown command '%s'\n\n", argv[1]);
		usage(stderr);
		return 2;
	}
	if (strcmp(cmd->name, "help") != 0) {
		for (int i = 2; i < argc; i++) {
			if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
				fputs(cmd->usage, stdout);
				return 0;
			}
		}
	}
	return cmd->run(argc - 1, argv + 1);
}
