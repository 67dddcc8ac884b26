/*
 * spin.h - the pause instruction of a spin-wait loop: lets the other
 * hyper-thread run and saves power while a waiter polls a flag for the few
 * microseconds before it sleeps.
 */
#ifndef AIDEV_HAL_SPIN_H
#define AIDEV_HAL_SPIN_H

static inline void aidev_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

#endif
