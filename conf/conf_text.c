/*
 * conf_text.c - reading bridge.conf as text before libconfuse sees it:
 * a bounded read of the whole file, and blanking of comments (which
 * also finds unterminated strings, comments and sections).  Line
 * numbers are never changed: every newline is kept.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf_int.h"

#define CONF_FILE_MAX	(1024 * 1024)

/*
 * conf_read_text - the whole config file, at most CONF_FILE_MAX bytes, NUL
 * terminated.  NULL with errno set on failure (EFBIG when too big).
 */
char *
conf_read_text(const char *path)
{
	char *buf;
	size_t len = 0;
	ssize_t n;
	int fd, saved;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return NULL;
	if ((buf = malloc(CONF_FILE_MAX + 1)) == NULL) {
		close(fd);
		return NULL;
	}
	while ((n = read(fd, buf + len, CONF_FILE_MAX + 1 - len)) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 || (len += (size_t)n) > CONF_FILE_MAX) {
			saved = n == -1 ? errno : EFBIG;
			free(buf);
			close(fd);
			errno = saved;
			return NULL;
		}
	}
	close(fd);
	buf[len] = '\0';
	if (strlen(buf) != len) {
		free(buf);
		errno = EINVAL;
		return NULL;
	}
	return buf;
}

/*
 * conf_strip_comments - blank out '#', '//' and C comments in place, keeping
 * newlines and quoted strings, the way libconfuse's lexer reads them.
 * libconfuse 3.3 miscounts lines after comments and rejects comments
 * inside lists; handing it text without comments avoids both.  Returns
 * the line where an unterminated C comment, quoted string or brace
 * opens (and sets *what), else 0: libconfuse takes the end of the file
 * as the end of an open section.  A quoted string must end on its line
 * (or continue with a backslash): no value here holds a newline, and
 * this points at the real mistake.
 */
int
conf_strip_comments(char *s, const char **what)
{
	enum { NORMAL, DQ, SQ, LINE, BLOCK } st = NORMAL;
	int line = 1, opened = 0, brace[16], depth = 0;

	for (; *s != '\0'; s++) {
		if (*s == '\n')
			line++;
		switch (st) {
		case NORMAL:
			if (*s == '"' || *s == '\'') {
				st = *s == '"' ? DQ : SQ;
				opened = line;
			} else if (*s == '{') {
				if (depth < 16)
					brace[depth] = line;
				depth++;
			} else if (*s == '}' && depth > 0) {
				depth--;
			}
			else if (*s == '#' || (s[0] == '/' && s[1] == '/'))
				st = LINE;
			else if (s[0] == '/' && s[1] == '*') {
				st = BLOCK;
				opened = line;
				*s++ = ' ';
			}
			if (st == LINE || st == BLOCK)
				*s = ' ';
			break;
		case DQ:
		case SQ:
			if (*s == '\\' && s[1] != '\0') {
				if (*++s == '\n')
					line++;
			} else if (*s == (st == DQ ? '"' : '\'')) {
				st = NORMAL;
			} else if (*s == '\n') {
				*what = "unterminated quoted string";
				return opened;
			}
			break;
		case LINE:
			if (*s == '\n')
				st = NORMAL;
			else
				*s = ' ';
			break;
		case BLOCK:
			if (s[0] == '*' && s[1] == '/') {
				*s++ = ' ';
				*s = ' ';
				st = NORMAL;
			} else if (*s != '\n') {
				*s = ' ';
			}
			break;
		}
	}
	if (st == BLOCK || st == DQ || st == SQ) {
		*what = st == BLOCK ? "unterminated /* comment" :
		    "unterminated quoted string";
		return opened;
	}
	if (depth > 0) {
		*what = "no closing } for this {";
		return brace[depth > 16 ? 15 : depth - 1];
	}
	return 0;
}
