#pragma once

// Fixed signing keys for the JWT fuzz target and its seed tokens
// (corpus/jwt/ is generated from these by make_jwt_seeds.mjs). Test keys: they sign
// nothing outside the fuzzer.

namespace agentidp::fuzz {

inline constexpr const char* kEs256Pem = R"PEM(
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgKxxcOb9j5nExNcde
pRG91jRI5zBKbprc3PgLKYB5AaKhRANCAATLWYeDd6Hu4haFX1Ybi5MmgaEtOxkD
2YECTNgfOXT9/xXBefhmzscsvg+XDvpsuovE0WIrFXCcL3Eu4ET2ST6f
-----END PRIVATE KEY-----
)PEM";

inline constexpr const char* kEdDsaPem = R"PEM(
-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIF+eg+A9bHMbm+XFXi3G9HP/E/1/SrFDrZBw0W2nni/R
-----END PRIVATE KEY-----
)PEM";

inline constexpr const char* kRs256Pem = R"PEM(
-----BEGIN PRIVATE KEY-----
MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQDCSiHh/TDXTnfK
Cme9+ftJgBy95cPpSMk9xAGfiL+sqNioOVm9Pj0OYqB5n42CoZ5ze3eX9BJqRQUE
n/IKFNe/e5I/Dyat5pMbN24BXG/6qIpB6732r/IlCc4J4Me5a0SdFf72CjCeISOI
SQsFP7t7BG07A6Z4HQ1XzDZBDs+CF14EcEruGq58XTvU12TIvbYnbbTEXap8skDa
QN0RxnbX9MbevTpKNz74qUBVOsJHRLn+Qoat5j5buUmBkooLcgXTFKfmGFD41phz
frz6idWgc3Lbhg2MMWHdVlcJ6YLSuLQ9gjar1zFJU8pb5NmrQ2s6q1BkRg6OdkyL
y44LtqbFAgMBAAECggEAUCzwW4Y0s/zVEQKHOg3hJT0hXznkRS38oajzdIaldlY9
BfqYri/zWS7ZAyeU6W3Rad1vBj05pjHyNqzcYE2mlIWlXbFeaE/or8gJdLVVHm6T
k015mEWWGrO3mzrvoHQEHgDYNGcTFgYd2B0wV4urzcGPY9WHSjTO70a9ss4uUoOh
6EUdLX2Jmam5Oyrv2ov4S7FuP556gH/zC5zfGmkSdX48Z/1q2lsIkPDJeJc9wAK+
Yp6CaryrWnxX+ZRtdktcNuksTrNybYmF+E598bdtPpbqhXlaBSB1udia/fpwnY3B
5A5ULuxJMPbj0VmH/TxGnhV1SWGyrMK9rFx2ovrQpwKBgQD4pFbrzBMYKaLdB0Wd
Ud+sLyA7Pi0e+An2esfJNnKhxMLj/BsNAqRSKjSRkgG1e0qzo7y/qU3vyDhQd3GC
7v3of5IgqKBKKVTRba4a2kX98fzgaAxlwTNkTsxGLxorYbYmDlXBj7xt/R1/HkjZ
LpRYvCYGoqb+C2IHZ0fPgoaDBwKBgQDICgfHnv3NqKbG5ntoBlV55wVBXNX1yX+b
EajTftzzmhFPdibFjMVFIgH9e2TMTajGge4WGmE+OO/nYbaG2eG4S1eF0RKZNcRu
bazLCRzZImUgGrIoRzyb0F8SxoepCZKhoQNTcSaqRupHvGukaiWtJ2G8SRjgKln/
E0HM3PAY0wKBgDeea2Mrr0nEZo4Sxlu+qM4XbJpT+jvnODNOm8pCx7mwDfh5uINc
h+1pS4EUrBUwkzFD+0DUWn68xvwY++dSFrIfd0ye69wrCrIeWsfe87EupGZ+X+eT
JC/YAJHij3QM03YH1t8JjBj+ec6ps5oBdWW0EL2DPN+vJCqLy+B7TiOZAoGAa1ym
zEbS5VxNFpeBSFWN7r1FHs2asC4TZMDXoZuHLt9Txxgcuw5QmkgkVU2yzcwod1Io
3IgQBPs+FytkcX/jG6ykLtgFaWFoKfSHNvmPGCLTr6VkVSXWq7HsNQGEsf7HSiRG
yrQCEoW5HANOqpGl4wct94Yr6bQRVUualz9FRa0CgYAiLk026c8i73/n9sj7gpXa
2ptS5m9pAcajpzQ04Vziq+p2OI0hJ7w4DSU681f5I7+o1hpdoUi9UzG63TJmFVlb
K1YMBxNyXQ1F34Il5olCie8LlaNOFJ1rqRueIb46Tn2Jk2w7nmWjtccbAFLJaZHA
ZG0qxKZW5oxUpoy+Pu8LUQ==
-----END PRIVATE KEY-----
)PEM";

}  // namespace agentidp::fuzz
