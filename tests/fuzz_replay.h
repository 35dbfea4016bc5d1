/* Without libFuzzer (FUZZ_REPLAY_MAIN): replays a seed corpus, each file as
 * it is and as truncated and bit-flipped copies, as a regular test. A fuzz
 * target includes it after LLVMFuzzerTestOneInput and may set, before:
 *   FUZZ_REPLAY_MUTATIONS  copies per file (default 300)
 *   FUZZ_REPLAY_SEED       the mutations' generator seed (default 4242)
 *   FUZZ_REPLAY_WHAT       what survived, for the closing line
 *   FUZZ_REPLAY_CHECK()    run after the corpus: nonzero (having said why)
 *                          fails the test */
#ifdef FUZZ_REPLAY_MAIN
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#ifndef FUZZ_REPLAY_MUTATIONS
#define FUZZ_REPLAY_MUTATIONS 300
#endif
#ifndef FUZZ_REPLAY_SEED
#define FUZZ_REPLAY_SEED 4242
#endif
#ifndef FUZZ_REPLAY_WHAT
#define FUZZ_REPLAY_WHAT "the parser"
#endif
#ifndef FUZZ_REPLAY_CHECK
#define FUZZ_REPLAY_CHECK() 0
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t buf[1 << 20], mut[1 << 20];

static void replay(const uint8_t *in, size_t n, uint32_t *rng, unsigned *runs) {
  LLVMFuzzerTestOneInput(in, n);
  (*runs)++;
  for (int k = 0; k < FUZZ_REPLAY_MUTATIONS && n > 0; k++, (*runs)++) {
    memcpy(mut, in, n);
    size_t len = n;
    for (int f = 0; f < 1 + k % 4; f++) {
      *rng = *rng * 1103515245u + 12345u;
      mut[(*rng >> 8) % len] ^= (uint8_t)(1u << ((*rng >> 4) % 8));
    }
    if (k % 5 == 0)
      len = (*rng >> 3) % len;
    LLVMFuzzerTestOneInput(mut, len);
  }
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
    return 2;
  }
  DIR *d = opendir(argv[1]);
  if (!d) {
    perror(argv[1]);
    return 1;
  }
  struct dirent *e;
  int files = 0;
  unsigned runs = 0;
  uint32_t rng = FUZZ_REPLAY_SEED;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.')
      continue;
    char p[1024];
    snprintf(p, sizeof(p), "%s/%s", argv[1], e->d_name);
    FILE *f = fopen(p, "rb");
    if (!f)
      continue;
    size_t len = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    replay(buf, len, &rng, &runs);
    files++;
  }
  closedir(d);
  if (files == 0) {
    fprintf(stderr, "%s: no corpus files\n", argv[1]);
    return 1;
  }
  if (FUZZ_REPLAY_CHECK())
    return 1;
  printf("replayed %d corpus files as %u inputs; %s survived every one\n", files, runs,
         FUZZ_REPLAY_WHAT);
  return 0;
}
#endif
