// Plain C reference of the dense Ising PT Metropolis sweep (issue 6's description):
// incremental local fields, spins outer / walkers inner, inline xoshiro256**, random sites
// per ladder, SK couplings, 16 temperatures x 2 ladders geometric in [0.3, 2].
//
//   ising N sweeps             warm up, time `sweeps` sweeps, print one line
//   ising N sweeps warm serve  warm up `warm` sweeps, then for every line read on stdin time
//                              `sweeps` sweeps and print "<ns per attempt> <acceptance>"
//                              (rkky-mc bench interleaves these rounds with its own)
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <math.h>
#include <time.h>
#ifndef REAL
#define REAL double
#endif
static inline uint64_t rotl(uint64_t x, int k){return (x<<k)|(x>>(64-k));}
static inline uint64_t nxt(uint64_t *s){uint64_t r=rotl(s[1]*5,7)*9,t=s[1]<<17;s[2]^=s[0];s[3]^=s[1];s[1]^=s[2];s[0]^=s[3];s[2]^=t;s[3]=rotl(s[3],45);return r;}
static inline double unif(uint64_t *s){return (nxt(s)>>11)*0x1.0p-53;}
enum {T=16,R=2,W=T*R};
static int N; static REAL *J,*s,*h; static double beta[W]; static uint64_t rng[W][4],g[4]={1,2,3,4}; static int *sites;
static long sweeps_acc(int ns){
  long acc=0;
  for(int sw=0;sw<ns;sw++)for(int r=0;r<R;r++){
    for(int k=0;k<N;k++)sites[k]=(int)(unif(g)*N);
    for(int k=0;k<N;k++){int i=sites[k];const REAL *Ji=J+(size_t)i*N;
      for(int w=r*T;w<(r+1)*T;w++){REAL si=s[w*N+i];REAL de=2*si*h[w*N+i];
        if(de>0){double u=unif(rng[w]);double x=beta[w]*de;if(u*(1+x*(1+0.5*x))>=1+1e-12)continue;if(!(u<exp(-x)))continue;}
        s[w*N+i]=-si;REAL c=-2*si;REAL *hw=h+w*N;for(int j=0;j<N;j++)hw[j]+=c*Ji[j];acc++;}}}
  return acc;}
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+1e-9*t.tv_nsec;}
int main(int argc,char**argv){
  if(argc<3){fprintf(stderr,"usage: %s N sweeps [warm serve]\n",argv[0]);return 2;}
  N=atoi(argv[1]); int sweeps=atoi(argv[2]); int warm=argc>3?atoi(argv[3]):50; int serve=argc>4;
  J=aligned_alloc(64,sizeof(REAL)*(size_t)N*N);
  for(int i=0;i<N;i++)for(int j=i;j<N;j++){double u1=unif(g)+1e-300,u2=unif(g);double z=sqrt(-2*log(u1))*cos(6.283185307179586*u2)/sqrt(N);J[(size_t)i*N+j]=J[(size_t)j*N+i]=(i==j)?0:z;}
  s=aligned_alloc(64,sizeof(REAL)*W*N);h=aligned_alloc(64,sizeof(REAL)*W*N);sites=malloc(sizeof(int)*N);
  for(int w=0;w<W;w++){int t=w%T;beta[w]=1.0/(0.3*pow(2.0/0.3,(double)t/(T-1)));for(int k=0;k<4;k++)rng[w][k]=nxt(g);for(int i=0;i<N;i++)s[w*N+i]=(unif(g)<0.5)?-1:1;}
  // h = J s row by row (J symmetric): the same sums as column by column, cache-friendly
  memset(h,0,sizeof(REAL)*W*N);
  for(int w=0;w<W;w++)for(int i=0;i<N;i++){REAL si=s[w*N+i];const REAL *Ji=J+(size_t)i*N;REAL *hw=h+w*N;for(int j=0;j<N;j++)hw[j]+=Ji[j]*si;}
  long acc=sweeps_acc(warm);
  if(!serve){
    double t0=now(); acc+=sweeps_acc(sweeps); double el=now()-t0;
    printf("N=%d %s: %.1f ns per attempted update, acceptance %.3f\n",N,sizeof(REAL)==8?"f64":"f32",el/((double)sweeps*N*W)*1e9,(double)acc/((double)(sweeps+warm)*N*W));
    return 0;}
  char line[64];
  printf("ready\n");fflush(stdout);
  while(fgets(line,sizeof line,stdin)){
    double t0=now(); long a=sweeps_acc(sweeps); double el=now()-t0;
    printf("%.6f %.6f\n",el/((double)sweeps*N*W)*1e9,(double)a/((double)sweeps*N*W));fflush(stdout);}
  return 0;}
