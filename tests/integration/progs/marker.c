/* marker: the first thing it does is append one byte to ./marks, then it
 * exits 0. A byte missing means not one instruction of it ran after exec:
 * how the enforcement tests count programs that were (not) killed in time.
 * No libc, no dynamic loader: nothing runs before _start.
 * Build: gcc -static -nostdlib -O2 -o marker marker.c */
#if defined(__x86_64__)
#define NR_OPEN 2
#define NR_WRITE 1
#define NR_EXIT 60
static long sc3(long n, long a, long b, long c)
{
	long r;

	__asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
	return r;
}
#elif defined(__aarch64__)
#define NR_OPEN -1 /* openat below */
#define NR_OPENAT 56
#define NR_WRITE 64
#define NR_EXIT 93
static long sc4(long n, long a, long b, long c, long d)
{
	register long x8 __asm__("x8") = n, x0 __asm__("x0") = a, x1 __asm__("x1") = b,
				      x2 __asm__("x2") = c, x3 __asm__("x3") = d;

	__asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3) : "memory");
	return x0;
}
static long sc3(long n, long a, long b, long c)
{
	if (n == NR_OPEN)
		return sc4(NR_OPENAT, -100 /* AT_FDCWD */, a, b, c);
	return sc4(n, a, b, c, 0);
}
#else
#error "marker: add this architecture's syscall convention"
#endif

void _start(void)
{
	long fd = sc3(NR_OPEN, (long)"marks", 02101 /* O_WRONLY|O_CREAT|O_APPEND */, 0644);

	if (fd >= 0)
		sc3(NR_WRITE, fd, (long)"x", 1);
	sc3(NR_EXIT, 0, 0, 0);
	for (;;)
		;
}
