/* Which implementation the CPU form of matmul_i8 runs on this machine
 * (kernels/matmul_i8/matmul_i8.c): a static string for aidev-info -v and
 * the bench. Internal to libaidev. */
#ifndef AIDEV_KERNELS_MATMUL_I8_PATH_H
#define AIDEV_KERNELS_MATMUL_I8_PATH_H

const char *aidev_matmul_i8_path(void);

#endif
