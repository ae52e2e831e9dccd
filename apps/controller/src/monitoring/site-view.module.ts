// SPDX-License-Identifier: Apache-2.0
import { Module } from '@nestjs/common';
import { SiteView } from './site-view.service';

/** Monitoring's settings and its view of the site's policy (site-view.service.ts). */
@Module({ providers: [SiteView], exports: [SiteView] })
export class SiteViewModule {}
