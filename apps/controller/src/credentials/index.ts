// SPDX-License-Identifier: Apache-2.0
/** What other features use: the module, and credentialStatus() for posture rules. */
export { CredentialsModule } from './credentials.module';
export { CredentialsService, type CredentialStatus } from './credentials.service';
