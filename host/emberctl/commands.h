/* emberctl's commands: each parses its own options from argv (argv[0] is the
 * command name) and returns the process exit status. */
#ifndef EMBERCTL_COMMANDS_H
#define EMBERCTL_COMMANDS_H

#include "cli.h"

int cmd_ping(struct cli *cli, int argc, char **argv);
int cmd_info(struct cli *cli, int argc, char **argv);
int cmd_wait_ready(struct cli *cli, int argc, char **argv);
int cmd_exec(struct cli *cli, int argc, char **argv);
int cmd_shell(struct cli *cli, int argc, char **argv);
int cmd_attach(struct cli *cli, int argc, char **argv);
int cmd_kill(struct cli *cli, int argc, char **argv);
int cmd_ps(struct cli *cli, int argc, char **argv);
int cmd_logs(struct cli *cli, int argc, char **argv);
int cmd_wait(struct cli *cli, int argc, char **argv);
int cmd_shutdown(struct cli *cli, int argc, char **argv);
int cmd_start(struct cli *cli, int argc, char **argv);
int cmd_freeze(struct cli *cli, int argc, char **argv);
int cmd_thaw(struct cli *cli, int argc, char **argv);
int cmd_fsstatus(struct cli *cli, int argc, char **argv);
int cmd_resume(struct cli *cli, int argc, char **argv);
int cmd_netconfig(struct cli *cli, int argc, char **argv);
int cmd_cp(struct cli *cli, int argc, char **argv);

#endif
