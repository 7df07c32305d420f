// Plain C reference of the dense Ising PT Metropolis sweep (issue 6's description):
// incremental local fields, spins outer / walkers inner, inline xoshiro256**, random sites
// per ladder, SK couplings, 16 temperatures x 2 ladders geometric in [0.3, 2].
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <math.h>
#include <time.h>
#ifndef REAL
#define REAL double
#endif
static inline uint64_t rotl(uint64_t x, int k){return (x<<k)|(x>>(64-k));}
static inline uint64_t nxt(uint64_t *s){uint64_t r=rotl(s[1]*5,7)*9,t=s[1]<<17;s[2]^=s[0];s[3]^=s[1];s[1]^=s[2];s[0]^=s[3];s[2]^=t;s[3]=rotl(s[3],45);return r;}
static inline double unif(uint64_t *s){return (nxt(s)>>11)*0x1.0p-53;}
int main(int argc,char**argv){
  int N=atoi(argv[1]); int T=16,R=2,W=T*R; int sweeps=atoi(argv[2]);
  REAL *J=aligned_alloc(64,sizeof(REAL)*(size_t)N*N);
  uint64_t g[4]={1,2,3,4};
  for(int i=0;i<N;i++)for(int j=i;j<N;j++){double u1=unif(g)+1e-300,u2=unif(g);double z=sqrt(-2*log(u1))*cos(6.283185307179586*u2)/sqrt(N);J[(size_t)i*N+j]=J[(size_t)j*N+i]=(i==j)?0:z;}
  REAL *s=aligned_alloc(64,sizeof(REAL)*W*N),*h=aligned_alloc(64,sizeof(REAL)*W*N);
  double beta[32]; uint64_t rng[32][4]; int *sites=malloc(sizeof(int)*N);
  for(int w=0;w<W;w++){int t=w%T;beta[w]=1.0/(0.3*pow(2.0/0.3,(double)t/(T-1)));for(int k=0;k<4;k++)rng[w][k]=nxt(g);for(int i=0;i<N;i++)s[w*N+i]=(unif(g)<0.5)?-1:1;}
  for(int w=0;w<W;w++)for(int j=0;j<N;j++){double a=0;for(int i=0;i<N;i++)a+=J[(size_t)i*N+j]*s[w*N+i];h[w*N+j]=a;}
  long acc=0; struct timespec t0,t1;
  for(int pass=0;pass<2;pass++){
    if(pass==1)clock_gettime(CLOCK_MONOTONIC,&t0);
    int ns = pass==0 ? 50 : sweeps;
    for(int sw=0;sw<ns;sw++)for(int r=0;r<R;r++){
      for(int k=0;k<N;k++)sites[k]=(int)(unif(g)*N);
      for(int k=0;k<N;k++){int i=sites[k];const REAL *Ji=J+(size_t)i*N;
        for(int w=r*T;w<(r+1)*T;w++){REAL si=s[w*N+i];REAL de=2*si*h[w*N+i];
          if(de>0){double u=unif(rng[w]);double x=beta[w]*de;if(u*(1+x*(1+0.5*x))>=1+1e-12)continue;if(!(u<exp(-x)))continue;}
          s[w*N+i]=-si;REAL c=-2*si;REAL *hw=h+w*N;for(int j=0;j<N;j++)hw[j]+=c*Ji[j];acc++;}}}
  }
  clock_gettime(CLOCK_MONOTONIC,&t1);
  double el=(t1.tv_sec-t0.tv_sec)+1e-9*(t1.tv_nsec-t0.tv_nsec);
  printf("N=%d %s: %.1f ns per attempted update, acceptance %.3f\n",N,sizeof(REAL)==8?"f64":"f32",el/((double)sweeps*N*W)*1e9,(double)acc/((double)(sweeps+50)*N*W));
  return 0;}
