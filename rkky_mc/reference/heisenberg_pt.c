// Plain C reference of the dense Heisenberg PT Metropolis sweep (issue 16): SK couplings,
// 16 temperatures x 2 ladders geometric in [0.3, 2], proposal = a uniform new direction,
// incremental 3-component local fields (h_j += J_ij dS_i on acceptance), sites in order,
// walkers inner, inline xoshiro256**. Same command line as ising_pt.c:
//
//   heisenberg N sweeps             warm up, time `sweeps` sweeps, print one line
//   heisenberg N sweeps warm serve  warm up `warm` sweeps, then for every line read on stdin
//                                   time `sweeps` sweeps and print "<ns per attempt> <acceptance>"
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
static int N; static REAL *J,*sx,*sy,*sz,*hx,*hy,*hz; static double beta[W]; static uint64_t rng[W][4],g[4]={1,2,3,4};
static inline void direction(uint64_t *st,double *x,double *y,double *z){
  double u=2*unif(st)-1,phi=6.283185307179586*unif(st),r=sqrt(fmax(0.0,1-u*u));
  *x=r*cos(phi);*y=r*sin(phi);*z=u;}
static long sweeps_acc(int ns){
  long acc=0;
  for(int sw=0;sw<ns;sw++)for(int i=0;i<N;i++){const REAL *Ji=J+(size_t)i*N;
    for(int w=0;w<W;w++){size_t k=(size_t)w*N+i;double nx,ny,nz;direction(rng[w],&nx,&ny,&nz);
      double dx=nx-sx[k],dy=ny-sy[k],dz=nz-sz[k];
      double de=-(dx*hx[k]+dy*hy[k]+dz*hz[k]);
      if(de>0&&!(unif(rng[w])<exp(-beta[w]*de)))continue;
      sx[k]=nx;sy[k]=ny;sz[k]=nz;REAL cx=dx,cy=dy,cz=dz;
      REAL *fx=hx+(size_t)w*N,*fy=hy+(size_t)w*N,*fz=hz+(size_t)w*N;
      for(int j=0;j<N;j++){REAL c=Ji[j];fx[j]+=c*cx;fy[j]+=c*cy;fz[j]+=c*cz;}
      acc++;}}
  return acc;}
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+1e-9*t.tv_nsec;}
int main(int argc,char**argv){
  if(argc<3){fprintf(stderr,"usage: %s N sweeps [warm serve]\n",argv[0]);return 2;}
  N=atoi(argv[1]); int sweeps=atoi(argv[2]); int warm=argc>3?atoi(argv[3]):50; int serve=argc>4;
  size_t wn=(size_t)W*N;
  J=aligned_alloc(64,sizeof(REAL)*(size_t)N*N);
  for(int i=0;i<N;i++)for(int j=i;j<N;j++){double u1=unif(g)+1e-300,u2=unif(g);double z=sqrt(-2*log(u1))*cos(6.283185307179586*u2)/sqrt(N);J[(size_t)i*N+j]=J[(size_t)j*N+i]=(i==j)?0:z;}
  REAL **arr[6]={&sx,&sy,&sz,&hx,&hy,&hz};
  for(int a=0;a<6;a++)*arr[a]=aligned_alloc(64,sizeof(REAL)*(wn+16));
  for(int w=0;w<W;w++){int t=w%T;beta[w]=1.0/(0.3*pow(2.0/0.3,(double)t/(T-1)));for(int k=0;k<4;k++)rng[w][k]=nxt(g);
    for(int i=0;i<N;i++){double x,y,z;direction(g,&x,&y,&z);size_t k=(size_t)w*N+i;sx[k]=x;sy[k]=y;sz[k]=z;}}
  memset(hx,0,sizeof(REAL)*wn);memset(hy,0,sizeof(REAL)*wn);memset(hz,0,sizeof(REAL)*wn);
  for(int w=0;w<W;w++)for(int i=0;i<N;i++){size_t k=(size_t)w*N+i;const REAL *Ji=J+(size_t)i*N;
    for(int j=0;j<N;j++){hx[(size_t)w*N+j]+=Ji[j]*sx[k];hy[(size_t)w*N+j]+=Ji[j]*sy[k];hz[(size_t)w*N+j]+=Ji[j]*sz[k];}}
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
