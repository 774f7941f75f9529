/**
 * Built-in request templates for `okta-token-hook test` (`request: { template: ... }`): realistic
 * payloads of each flow, the same as test/fixtures/okta (a test keeps them equal). Embedded so the
 * CLI works from the npm package and the container image, where no fixture files ship.
 */
import type { TokenHookEvent } from "../../hook/types";
import { cloneJson } from "../../shared/values";

export const TEMPLATE_SOURCES = {
  "authorization_code": "token-hook-authcode-full",
  "refresh_token": "token-hook-refresh",
  "client_credentials": "token-hook-client-credentials",
  "implicit": "token-hook-implicit",
  "preview": "token-hook-preview-no-identity"
} as const;

export type TemplateName = keyof typeof TEMPLATE_SOURCES;

const TEMPLATES: Record<TemplateName, unknown> = {
  authorization_code: {
    "eventId": "Vb7nQ2pXRk6Ty1wLmZ8sAc",
    "eventTime": "2025-03-04T16:05:41.000Z",
    "eventType": "com.okta.oauth2.tokens.transform",
    "eventTypeVersion": "1.0",
    "contentType": "application/json",
    "cloudEventVersion": "0.1",
    "source": "https://login.example.com/oauth2/default/v1/authorize",
    "data": {
      "context": {
        "request": {
          "id": "Y3r8KcWq1Tn5Mz0Pb7LxVgAAC2s",
          "method": "GET",
          "url": {
            "value": "https://login.example.com/oauth2/default/v1/authorize?client_id=0oa7h3j5k7L9z1X3c5v7&response_type=code&response_mode=query&scope=openid+profile+email+offline_access+patients%3Aread&redirect_uri=https%3A%2F%2Fportal.example.com%2Flogin%2Fcallback&state=Zk3v9QmT2sLp8xWb&nonce=n-5fR2tY8uI1oP4a&code_challenge=qjrzSW9gMiUgpUvqgEPE4_-8swvyCtfOVvg55o5S_es&code_challenge_method=S256&clinic_hint=north-campus"
          },
          "ipAddress": "198.51.100.73"
        },
        "protocol": {
          "type": "OAUTH2.0",
          "request": {
            "scope": "openid profile email offline_access patients:read",
            "state": "Zk3v9QmT2sLp8xWb",
            "redirect_uri": "https://portal.example.com/login/callback",
            "response_mode": "query",
            "response_type": "code",
            "client_id": "0oa7h3j5k7L9z1X3c5v7"
          },
          "issuer": {
            "uri": "https://login.example.com/oauth2/default"
          },
          "client": {
            "id": "0oa7h3j5k7L9z1X3c5v7",
            "name": "Patient Portal (web)",
            "type": "CONFIDENTIAL"
          }
        },
        "session": {
          "id": "idxT6yU8iO0pA2sD4fG6hJ8kL",
          "userId": "00u3e5r7t9Y1u3I5o7p9",
          "login": "jordan.lee@example.com",
          "createdAt": "2025-03-04T16:05:12.000Z",
          "expiresAt": "2025-03-04T18:05:12.000Z",
          "status": "ACTIVE",
          "lastPasswordVerification": "2025-03-04T16:05:12.000Z",
          "lastFactorVerification": "2025-03-04T16:05:30.000Z",
          "amr": [
            "PASSWORD"
          ],
          "idp": {
            "id": "00o1q2w3e4R5t6Y7u8i9",
            "type": "OKTA"
          },
          "mfaActive": false
        },
        "user": {
          "id": "00u3e5r7t9Y1u3I5o7p9",
          "passwordChanged": "2025-01-08T21:44:02.000Z",
          "profile": {
            "login": "jordan.lee@example.com",
            "firstName": "Jordan",
            "lastName": "Lee",
            "locale": "en_US",
            "timeZone": "America/New_York"
          },
          "_links": {
            "groups": {
              "href": "https://login.example.com/api/v1/users/00u3e5r7t9Y1u3I5o7p9/groups"
            },
            "factors": {
              "href": "https://login.example.com/api/v1/users/00u3e5r7t9Y1u3I5o7p9/factors"
            }
          }
        },
        "policy": {
          "id": "00p4g6h8j0K2l4Z6x8c0",
          "rule": {
            "id": "0pr5v7b9n1M3q5W7e9r1"
          }
        }
      },
      "identity": {
        "claims": {
          "sub": "00u3e5r7t9Y1u3I5o7p9",
          "name": "Jordan Lee",
          "email": "jordan.lee@example.com",
          "ver": 1,
          "iss": "https://login.example.com/oauth2/default",
          "aud": "0oa7h3j5k7L9z1X3c5v7",
          "jti": "ID.m3Kx8Qp1Wz6Lr9Tv2Yb5Nc7Hd0Jf4Gs8Ae1Ui3Oo5Pq",
          "amr": [
            "pwd"
          ],
          "idp": "00o1q2w3e4R5t6Y7u8i9",
          "nonce": "n-5fR2tY8uI1oP4a",
          "preferred_username": "jordan.lee@example.com",
          "auth_time": 1741104312,
          "locale": "en_US",
          "employee_profile": {
            "employee_id": "E-20931",
            "department": "Cardiology"
          },
          "preferred_clinics": [
            "north-campus",
            "east-annex"
          ]
        },
        "token": {
          "lifetime": {
            "expiration": 3600
          }
        }
      },
      "access": {
        "claims": {
          "ver": 1,
          "jti": "AT.Rk2Lm9Np4Qs7Tu1Vw5Xy8Za3Bc6De0Fg2Hi4Jk6Lm8N",
          "iss": "https://login.example.com/oauth2/default",
          "aud": "api://default",
          "cid": "0oa7h3j5k7L9z1X3c5v7",
          "uid": "00u3e5r7t9Y1u3I5o7p9",
          "auth_time": 1741104312,
          "sub": "jordan.lee@example.com",
          "firstName": "Jordan",
          "preferred_username": "jordan.lee@example.com"
        },
        "token": {
          "lifetime": {
            "expiration": 3600
          }
        },
        "scopes": {
          "openid": {
            "id": "scp2w4e6r8T0y2U4i6o8",
            "action": "GRANT"
          },
          "profile": {
            "id": "scp3q5w7e9R1t3Y5u7i9",
            "action": "GRANT"
          },
          "email": {
            "id": "scp4a6s8d0F2g4H6j8k0",
            "action": "GRANT"
          },
          "offline_access": {
            "id": "scp5z7x9c1V3b5N7m9q1",
            "action": "GRANT"
          },
          "patients:read": {
            "id": "scp6p8a0t2I4e6N8t0s2",
            "action": "GRANT"
          }
        }
      },
      "refresh_token": {
        "jti": "oar1f3h5k7M9p1R3t5v7"
      }
    }
  },
  refresh_token: {
    "eventId": "Rf9sLk2Qw8Ep5Zt1Yx7Mn3",
    "eventTime": "2025-03-04T16:05:41.000Z",
    "eventType": "com.okta.oauth2.tokens.transform",
    "eventTypeVersion": 1,
    "contentType": "application/json",
    "cloudEventVersion": 0.1,
    "source": "https://login.example.com/oauth2/default/v1/token",
    "data": {
      "context": {
        "request": {
          "id": "Rq5tY7uI9oP1aS3dF5gH7jAAE1k",
          "method": "POST",
          "url": {
            "value": "https://login.example.com/oauth2/default/v1/token"
          },
          "ipAddress": "198.51.100.73"
        },
        "protocol": {
          "type": "OAUTH2.0",
          "request": {
            "grant_type": "refresh_token",
            "scope": "openid profile email offline_access patients:read",
            "client_id": "0oa7h3j5k7L9z1X3c5v7"
          },
          "issuer": {
            "uri": "https://login.example.com/oauth2/default"
          },
          "client": {
            "id": "0oa7h3j5k7L9z1X3c5v7",
            "name": "Patient Portal (web)",
            "type": "CONFIDENTIAL"
          },
          "OriginalGrant": {
            "authorization": {
              "scope": "openid profile email offline_access patients:read",
              "state": "Zk3v9QmT2sLp8xWb",
              "redirect_uri": "https://portal.example.com/login/callback",
              "response_mode": "query",
              "response_type": "code",
              "client_id": "0oa7h3j5k7L9z1X3c5v7"
            },
            "refresh_token": {
              "jti": "oar1f3h5k7M9p1R3t5v7"
            }
          }
        },
        "user": {
          "id": "00u3e5r7t9Y1u3I5o7p9",
          "passwordChanged": "2025-01-08T21:44:02.000Z",
          "profile": {
            "login": "jordan.lee@example.com",
            "firstName": "Jordan",
            "lastName": "Lee",
            "locale": "en_US",
            "timeZone": "America/New_York"
          },
          "_links": {
            "groups": {
              "href": "https://login.example.com/api/v1/users/00u3e5r7t9Y1u3I5o7p9/groups"
            },
            "factors": {
              "href": "https://login.example.com/api/v1/users/00u3e5r7t9Y1u3I5o7p9/factors"
            }
          }
        },
        "policy": {
          "id": "00p4g6h8j0K2l4Z6x8c0",
          "rule": {
            "id": "0pr5v7b9n1M3q5W7e9r1"
          }
        },
        "someFutureField": {
          "x": 1
        }
      },
      "identity": {
        "claims": {
          "sub": "00u3e5r7t9Y1u3I5o7p9",
          "name": "Jordan Lee",
          "email": "jordan.lee@example.com",
          "ver": 1,
          "iss": "https://login.example.com/oauth2/default",
          "aud": "0oa7h3j5k7L9z1X3c5v7",
          "jti": "ID.m3Kx8Qp1Wz6Lr9Tv2Yb5Nc7Hd0Jf4Gs8Ae1Ui3Oo5Pq",
          "amr": [
            "pwd"
          ],
          "idp": "00o1q2w3e4R5t6Y7u8i9",
          "nonce": "n-5fR2tY8uI1oP4a",
          "preferred_username": "jordan.lee@example.com",
          "auth_time": 1741104312,
          "locale": "en_US",
          "employee_profile": {
            "employee_id": "E-20931",
            "department": "Cardiology"
          },
          "preferred_clinics": [
            "north-campus",
            "east-annex"
          ]
        },
        "token": {
          "lifetime": {
            "expiration": 3600
          }
        }
      },
      "access": {
        "claims": {
          "ver": 1,
          "jti": "AT.Rk2Lm9Np4Qs7Tu1Vw5Xy8Za3Bc6De0Fg2Hi4Jk6Lm8N",
          "iss": "https://login.example.com/oauth2/default",
          "aud": "api://default",
          "cid": "0oa7h3j5k7L9z1X3c5v7",
          "uid": "00u3e5r7t9Y1u3I5o7p9",
          "auth_time": 1741104312,
          "sub": "jordan.lee@example.com",
          "firstName": "Jordan",
          "preferred_username": "jordan.lee@example.com"
        },
        "token": {
          "lifetime": {
            "expiration": 3600
          }
        },
        "scopes": {
          "openid": {
            "id": "scp2w4e6r8T0y2U4i6o8",
            "action": "GRANT"
          },
          "profile": {
            "id": "scp3q5w7e9R1t3Y5u7i9",
            "action": "GRANT"
          },
          "email": {
            "id": "scp4a6s8d0F2g4H6j8k0",
            "action": "GRANT"
          },
          "offline_access": {
            "id": "scp5z7x9c1V3b5N7m9q1",
            "action": "GRANT"
          },
          "patients:read": {
            "id": "scp6p8a0t2I4e6N8t0s2",
            "action": "GRANT"
          }
        }
      },
      "refresh_token": {
        "jti": "oar1f3h5k7M9p1R3t5v7"
      }
    }
  },
  client_credentials: {
    "eventId": "Hq4sWd8tLm1Yc6Np9Zr3Bx",
    "eventTime": "2025-03-04T16:30:02.000Z",
    "eventType": "com.okta.oauth2.tokens.transform",
    "eventTypeVersion": "1.0",
    "contentType": "application/json",
    "cloudEventVersion": "0.1",
    "source": "https://login.example.com/oauth2/aus8m0n2b4V6c8X0z2l4/v1/token",
    "data": {
      "context": {
        "request": {
          "id": "Xw2eR4tY6uI8oP0aS2dF4gAAD9m",
          "method": "POST",
          "url": {
            "value": "https://login.example.com/oauth2/aus8m0n2b4V6c8X0z2l4/v1/token"
          },
          "ipAddress": "192.0.2.145"
        },
        "protocol": {
          "type": "OAUTH2.0",
          "request": {
            "grant_type": "client_credentials",
            "scope": "inventory:read inventory:write",
            "client_id": "0oa9s1d3f5G7h9J1k3l5"
          },
          "issuer": {
            "uri": "https://login.example.com/oauth2/aus8m0n2b4V6c8X0z2l4"
          },
          "client": {
            "id": "0oa9s1d3f5G7h9J1k3l5",
            "name": "Inventory Sync Service",
            "type": "CONFIDENTIAL"
          }
        },
        "policy": {
          "id": "00p7u9i1o3P5a7S9d1f3",
          "rule": {
            "id": "0pr8j0k2l4Z6x8C0v2b4"
          }
        }
      },
      "access": {
        "claims": {
          "ver": 1,
          "jti": "AT.Tz5Yx8Wv1Us4Rq7Po0Nm3Lk6Ji9Hg2Fe5Dc8Ba1Zy4X",
          "iss": "https://login.example.com/oauth2/aus8m0n2b4V6c8X0z2l4",
          "aud": "api://inventory",
          "cid": "0oa9s1d3f5G7h9J1k3l5",
          "sub": "0oa9s1d3f5G7h9J1k3l5"
        },
        "token": {
          "lifetime": {
            "expiration": 3600
          }
        },
        "scopes": {
          "inventory:read": {
            "id": "scp7i9n1v3E5n7T9o1r3",
            "action": "GRANT"
          },
          "inventory:write": {
            "id": "scp8w0r2i4T6e8W0r2t4",
            "action": "GRANT"
          }
        }
      }
    }
  },
  implicit: {
    "eventId": "Im4pLc8Tq2Wz6Nb0Rv5Xk1",
    "eventTime": "2025-03-04T16:05:41.000Z",
    "eventType": "com.okta.oauth2.tokens.transform",
    "eventTypeVersion": "1.0",
    "contentType": "application/json",
    "cloudEventVersion": "0.1",
    "source": "https://login.example.com/oauth2/default/v1/authorize",
    "data": {
      "context": {
        "request": {
          "id": "Y3r8KcWq1Tn5Mz0Pb7LxVgAAC2s",
          "method": "GET",
          "url": {
            "value": "https://login.example.com/oauth2/default/v1/authorize?client_id=0oa7h3j5k7L9z1X3c5v7&response_type=code&response_mode=query&scope=openid+profile+email+offline_access+patients%3Aread&redirect_uri=https%3A%2F%2Fportal.example.com%2Flogin%2Fcallback&state=Zk3v9QmT2sLp8xWb&nonce=n-5fR2tY8uI1oP4a&code_challenge=qjrzSW9gMiUgpUvqgEPE4_-8swvyCtfOVvg55o5S_es&code_challenge_method=S256&clinic_hint=north-campus"
          },
          "ipAddress": "198.51.100.73"
        },
        "protocol": {
          "type": "OAUTH2.0",
          "request": {
            "scope": "openid profile email",
            "state": "Zk3v9QmT2sLp8xWb",
            "redirect_uri": "https://portal.example.com/login/callback",
            "response_mode": "fragment",
            "response_type": "token id_token",
            "client_id": "0oa7h3j5k7L9z1X3c5v7"
          },
          "issuer": {
            "uri": "https://login.example.com/oauth2/default"
          },
          "client": {
            "id": "0oa7h3j5k7L9z1X3c5v7",
            "name": "Patient Portal (web)",
            "type": "PUBLIC"
          }
        },
        "session": {
          "id": "idxT6yU8iO0pA2sD4fG6hJ8kL",
          "userId": "00u3e5r7t9Y1u3I5o7p9",
          "login": "jordan.lee@example.com",
          "createdAt": "2025-03-04T16:05:12.000Z",
          "expiresAt": "2025-03-04T18:05:12.000Z",
          "status": "ACTIVE",
          "lastPasswordVerification": "2025-03-04T16:05:12.000Z",
          "lastFactorVerification": "2025-03-04T16:05:30.000Z",
          "amr": [
            "PASSWORD"
          ],
          "idp": {
            "id": "00o1q2w3e4R5t6Y7u8i9",
            "type": "OKTA"
          },
          "mfaActive": false
        },
        "user": {
          "id": "00u3e5r7t9Y1u3I5o7p9",
          "passwordChanged": "2025-01-08T21:44:02.000Z",
          "profile": {
            "login": "jordan.lee@example.com",
            "firstName": "Jordan",
            "lastName": "Lee",
            "locale": "en_US",
            "timeZone": "America/New_York"
          },
          "_links": {
            "groups": {
              "href": "https://login.example.com/api/v1/users/00u3e5r7t9Y1u3I5o7p9/groups"
            },
            "factors": {
              "href": "https://login.example.com/api/v1/users/00u3e5r7t9Y1u3I5o7p9/factors"
            }
          }
        },
        "policy": {
          "id": "00p4g6h8j0K2l4Z6x8c0",
          "rule": {
            "id": "0pr5v7b9n1M3q5W7e9r1"
          }
        }
      },
      "identity": {
        "claims": {
          "sub": "00u3e5r7t9Y1u3I5o7p9",
          "name": "Jordan Lee",
          "email": "jordan.lee@example.com",
          "ver": 1,
          "iss": "https://login.example.com/oauth2/default",
          "aud": "0oa7h3j5k7L9z1X3c5v7",
          "jti": "ID.m3Kx8Qp1Wz6Lr9Tv2Yb5Nc7Hd0Jf4Gs8Ae1Ui3Oo5Pq",
          "amr": [
            "pwd"
          ],
          "idp": "00o1q2w3e4R5t6Y7u8i9",
          "nonce": "n-5fR2tY8uI1oP4a",
          "preferred_username": "jordan.lee@example.com",
          "auth_time": 1741104312,
          "locale": "en_US",
          "employee_profile": {
            "employee_id": "E-20931",
            "department": "Cardiology"
          },
          "preferred_clinics": [
            "north-campus",
            "east-annex"
          ]
        },
        "token": {
          "lifetime": {
            "expiration": 3600
          }
        }
      },
      "access": {
        "claims": {
          "ver": 1,
          "jti": "AT.Rk2Lm9Np4Qs7Tu1Vw5Xy8Za3Bc6De0Fg2Hi4Jk6Lm8N",
          "iss": "https://login.example.com/oauth2/default",
          "aud": "api://default",
          "cid": "0oa7h3j5k7L9z1X3c5v7",
          "uid": "00u3e5r7t9Y1u3I5o7p9",
          "auth_time": 1741104312,
          "sub": "jordan.lee@example.com",
          "firstName": "Jordan",
          "preferred_username": "jordan.lee@example.com"
        },
        "token": {
          "lifetime": {
            "expiration": 3600
          }
        },
        "scopes": {
          "openid": {
            "id": "scp2w4e6r8T0y2U4i6o8",
            "action": "GRANT"
          },
          "profile": {
            "id": "scp3q5w7e9R1t3Y5u7i9",
            "action": "GRANT"
          },
          "email": {
            "id": "scp4a6s8d0F2g4H6j8k0",
            "action": "GRANT"
          }
        }
      }
    }
  },
  preview: {
    "eventId": "Pv2wQx6Ry0Tz4Ua8Vb3Wc7",
    "eventTime": "2025-03-04T16:05:41.000Z",
    "eventType": "com.okta.oauth2.tokens.transform",
    "eventTypeVersion": "1.0",
    "contentType": "application/json",
    "cloudEventVersion": "0.1",
    "source": "https://login.example.com/oauth2/default/v1/authorize",
    "data": {
      "context": {
        "request": {
          "id": "Y3r8KcWq1Tn5Mz0Pb7LxVgAAC2s",
          "method": "GET",
          "url": {
            "value": "https://login.example.com/oauth2/default/v1/authorize?client_id=0oa7h3j5k7L9z1X3c5v7&response_type=code&scope=openid&redirect_uri=https%3A%2F%2Fexample.com&state=preview"
          },
          "ipAddress": "198.51.100.73"
        },
        "protocol": {
          "type": "OAUTH2.0",
          "request": {
            "scope": "openid profile email offline_access patients:read",
            "state": "Zk3v9QmT2sLp8xWb",
            "redirect_uri": "https://portal.example.com/login/callback",
            "response_mode": "query",
            "response_type": "code",
            "client_id": "0oa7h3j5k7L9z1X3c5v7"
          },
          "issuer": {
            "uri": "https://login.example.com/oauth2/default"
          },
          "client": {
            "id": "0oa7h3j5k7L9z1X3c5v7",
            "name": "Patient Portal (web)",
            "type": "CONFIDENTIAL"
          }
        },
        "session": {
          "id": "preview"
        },
        "user": {
          "id": "00u3e5r7t9Y1u3I5o7p9",
          "passwordChanged": "2025-01-08T21:44:02.000Z",
          "profile": {
            "login": "jordan.lee@example.com",
            "firstName": "Jordan",
            "lastName": "Lee",
            "locale": "en_US",
            "timeZone": "America/New_York"
          },
          "_links": {
            "groups": {
              "href": "https://login.example.com/api/v1/users/00u3e5r7t9Y1u3I5o7p9/groups"
            },
            "factors": {
              "href": "https://login.example.com/api/v1/users/00u3e5r7t9Y1u3I5o7p9/factors"
            }
          }
        },
        "policy": {
          "id": "00p4g6h8j0K2l4Z6x8c0",
          "rule": {
            "id": "0pr5v7b9n1M3q5W7e9r1"
          }
        }
      },
      "access": {
        "claims": {
          "ver": 1,
          "jti": "AT.Rk2Lm9Np4Qs7Tu1Vw5Xy8Za3Bc6De0Fg2Hi4Jk6Lm8N",
          "iss": "https://login.example.com/oauth2/default",
          "aud": "api://default",
          "cid": "0oa7h3j5k7L9z1X3c5v7",
          "uid": "00u3e5r7t9Y1u3I5o7p9",
          "auth_time": 1741104312,
          "sub": "jordan.lee@example.com",
          "firstName": "Jordan",
          "preferred_username": "jordan.lee@example.com"
        },
        "token": {
          "lifetime": {
            "expiration": 3600
          }
        },
        "scopes": {
          "openid": {
            "id": "scp2w4e6r8T0y2U4i6o8",
            "action": "GRANT"
          },
          "profile": {
            "id": "scp3q5w7e9R1t3Y5u7i9",
            "action": "GRANT"
          },
          "email": {
            "id": "scp4a6s8d0F2g4H6j8k0",
            "action": "GRANT"
          },
          "offline_access": {
            "id": "scp5z7x9c1V3b5N7m9q1",
            "action": "GRANT"
          },
          "patients:read": {
            "id": "scp6p8a0t2I4e6N8t0s2",
            "action": "GRANT"
          }
        }
      }
    },
    "preview": true
  },
};

export const TEMPLATE_NAMES = Object.keys(TEMPLATES) as TemplateName[];

/** A fresh deep copy of a template. */
export function template(name: TemplateName): TokenHookEvent {
  return cloneJson(TEMPLATES[name]) as TokenHookEvent;
}
