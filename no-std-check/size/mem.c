/* The five memory functions a freestanding link needs (a device's C library or
   compiler-builtins provides them): the simplest forms, so they add little to the
   measured size. Used only by measure-size.sh. */
typedef unsigned long size_t;
void *memcpy(void *d, const void *s, size_t n) { char *o = d; const char *i = s; while (n--) *o++ = *i++; return d; }
void *memmove(void *d, const void *s, size_t n) { char *o = d; const char *i = s; if (o < i) { while (n--) *o++ = *i++; } else { o += n; i += n; while (n--) *--o = *--i; } return d; }
void *memset(void *d, int c, size_t n) { char *o = d; while (n--) *o++ = (char)c; return d; }
int memcmp(const void *a, const void *b, size_t n) { const unsigned char *x = a, *y = b; for (; n; n--, x++, y++) if (*x != *y) return *x - *y; return 0; }
int bcmp(const void *a, const void *b, size_t n) { return memcmp(a, b, n); }
