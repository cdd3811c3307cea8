/* SPDX-License-Identifier: MIT */
#ifndef SOFTKVM_VMM_CLI_H
#define SOFTKVM_VMM_CLI_H

int cmd_cpu_demo(int argc, char **argv);
int cmd_exec(int argc, char **argv);
int cmd_run(int argc, char **argv);

#endif
